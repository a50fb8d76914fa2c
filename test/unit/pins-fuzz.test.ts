import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { CertificateError, isCertificateErrorCode } from '../../src/pins/errors';
import { parseCertificates } from '../../src/pins/pem';
import { validateCertificateChain, type ValidationResult } from '../../src/pins/validate';
import { createFixtures, type Fixtures } from './pins-fixtures';

let fx: Fixtures;
before(async () => {
  fx = await createFixtures();
});
after(() => fx?.cleanup());

/** Slowest single call seen; every input is at most 256 KiB, so anything near a second means a hang. */
let slowestMs = 0;

function check(input: string | Uint8Array, trustPem?: string | Uint8Array): ValidationResult {
  const start = performance.now();
  const result = validateCertificateChain(input, { trustPem: trustPem ?? fx.ca.certPem, at: fx.now });
  try {
    parseCertificates(input);
  } catch (err) {
    assert.ok(err instanceof CertificateError, `parseCertificates threw ${String(err)}`);
    assert.ok(isCertificateErrorCode(err.code));
  }
  slowestMs = Math.max(slowestMs, performance.now() - start);
  if (result.valid) {
    assert.ok(result.certificates.length > 0);
  } else {
    assert.ok(result.errors.length > 0);
    assert.deepEqual(result.error, result.errors[0]);
    for (const e of result.errors) {
      assert.ok(isCertificateErrorCode(e.code), e.code);
      assert.equal(typeof e.message, 'string');
    }
  }
  return result;
}

type Mutation = (s: string) => string;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((n) => (s: string) => s.slice(0, n % (s.length + 1))),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 20 })).map(([n, g]) => (s: string) => {
    const i = n % (s.length + 1);
    return s.slice(0, i) + g + s.slice(i);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 40 })).map(([n, len]) => (s: string) => {
    const i = n % (s.length + 1);
    return s.slice(0, i) + s.slice(i + len);
  }),
  fc.constant((s: string) => s.replace(/\n/g, '\r\n')),
  fc.constant((s: string) => s.replace(/\n/g, ' ')),
  fc.constant((s: string) => s.replace(/(-----BEGIN [A-Z ]+-----\n)/, '$1$1')),
  fc.constant((s: string) => s.replace(/(-----END [A-Z ]+-----\n)/, '$1$1')),
  fc.constant((s: string) => s.replace('-----END CERTIFICATE-----', '')),
  fc.nat().map((n) => (s: string) => {
    const lines = s.split('\n');
    lines.splice(n % lines.length, 0, lines[n % lines.length]);
    return lines.join('\n');
  }),
  fc.tuple(fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-!')).map(([n, c]) => (s: string) => {
    const i = n % s.length;
    return s.slice(0, i) + c + s.slice(i + 1);
  }),
);

describe('hostile input never escapes as anything but a result or CertificateError', () => {
  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => void check(bytes)), { numRuns: 400 });
  });

  it('arbitrary text, and arbitrary text inside certificate markers', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), fc.boolean(), (text, framed) => {
        check(framed ? `-----BEGIN CERTIFICATE-----\n${text}\n-----END CERTIFICATE-----\n` : text);
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary base64 of arbitrary bytes inside certificate markers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), (bytes) => {
        const result = check(`-----BEGIN CERTIFICATE-----\n${Buffer.from(bytes).toString('base64')}\n-----END CERTIFICATE-----\n`);
        assert.equal(result.valid, false);
      }),
      { numRuns: 300 },
    );
  });

  it('mangled PEM chains: truncation, garbage, CRLF, duplicated headers, flipped characters', () => {
    const chain = fx.leafRsa + fx.ca.certPem;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        check(mutations.reduce((s, m) => m(s), chain));
      }),
      { numRuns: 500 },
    );
  });

  it('mangled DER inside a well-framed block: flipped bytes never pass as the original', () => {
    const der = Buffer.from(fx.leafRsa.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (n, x) => {
        const bytes = Buffer.from(der);
        bytes[n % bytes.length] ^= x;
        const result = check(`-----BEGIN CERTIFICATE-----\n${bytes.toString('base64')}\n-----END CERTIFICATE-----\n`);
        // Any changed byte either breaks the DER or the signature (or, in the unsigned outer signature
        // algorithm field, makes Node refuse to verify): it never validates.
        assert.equal(result.valid, false);
      }),
      { numRuns: 300 },
    );
  });

  it('mangled trust bundles give a result, never an exception', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        check(fx.leafRsa, mutations.reduce((s, m) => m(s), fx.ca.certPem));
      }),
      { numRuns: 200 },
    );
  });

  it('pathological 256 KiB inputs finish fast', () => {
    const n = 256 * 1024;
    const inputs = [
      'A'.repeat(n),
      '-'.repeat(n),
      '\n'.repeat(n),
      '\r'.repeat(n),
      '-----BEGIN '.repeat(Math.floor(n / 11)),
      'BEGIN '.repeat(Math.floor(n / 6)),
      `-----BEGIN CERTIFICATE-----\n${'A'.repeat(n - 60)}\n-----END CERTIFICATE-----\n`,
      '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'.repeat(Math.floor(n / 54)),
      `${'-----BEGIN CERTIFICATE----- '.repeat(Math.floor(n / 28))}`,
      fx.leafRsa.repeat(Math.floor(n / fx.leafRsa.length)),
    ];
    for (const input of inputs) {
      const start = performance.now();
      const result = check(input);
      assert.equal(result.valid, false);
      assert.ok(performance.now() - start < 1000, `took ${performance.now() - start} ms`);
    }
  });

  it('no single call was slow', () => {
    assert.ok(slowestMs < 1000, `slowest call ${slowestMs.toFixed(1)} ms`);
  });
});

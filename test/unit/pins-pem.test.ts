import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  certificatePin,
  describeCertificate,
  isDigest,
  parseCertificateTime,
  pinFromCertificate,
  spkiPin,
  subjectPublicKeyInfoDer,
} from '../../src/pins/digest';
import { CertificateError, type CertificateErrorCode } from '../../src/pins/errors';
import { parseCertificates, splitPem } from '../../src/pins/pem';
import { createFixtures, keyMaterialLines, NO_OPENSSL, opensslPins, type Fixtures } from './pins-fixtures';

let fx: Fixtures;
before(async () => {
  fx = await createFixtures();
});
after(() => fx?.cleanup());

function rejects(fn: () => unknown, code: CertificateErrorCode, message?: RegExp): CertificateError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CertificateError, `expected CertificateError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.name, 'CertificateError');
    assert.ok(err instanceof Error);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

function pemOf(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;
}

describe('splitPem framing', () => {
  it('reads several blocks with CRLF and text before, between and after them', () => {
    const input = `Bag Attributes\r\n  friendlyName: x\r\n${fx.leafRsa.replace(/\n/g, '\r\n')}between\r\n${fx.ca.certPem.replace(/\n/g, '\r\n')}\r\nthe end`;
    const blocks = splitPem(input);
    assert.deepEqual(blocks.map((b) => b.label), ['CERTIFICATE', 'CERTIFICATE']);
    assert.deepEqual(blocks[0].der, new X509Certificate(fx.leafRsa).raw);
    assert.equal(blocks[0].line, 3);
  });

  it('reads bytes, old Mac CR line ends, a UTF-8 BOM and PEM squashed onto one line', () => {
    const der = new X509Certificate(fx.leafRsa).raw;
    for (const input of [
      Buffer.from(fx.leafRsa),
      fx.leafRsa.replace(/\n/g, '\r'),
      `\ufeff${fx.leafRsa}`,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(fx.leafRsa)]),
      fx.leafRsa.replace(/\n/g, ' '),
      `  \t${fx.leafRsa.replace(/\n/g, '  \n\t')}`,
    ]) {
      const blocks = splitPem(input);
      assert.equal(blocks.length, 1);
      assert.deepEqual(blocks[0].der, der);
    }
  });

  it('PRIVATE_KEY_SUPPLIED for every private key flavour, also truncated or hidden in text', () => {
    const keys = Object.values(fx.privateKeys);
    for (const key of keys) {
      for (const input of [key, `${fx.leafRsa}\n${key}`, key.slice(0, 60), `notes: ${key.replace(/\n/g, ' ')}`]) {
        const err = rejects(() => splitPem(input), 'PRIVATE_KEY_SUPPLIED');
        const everything = JSON.stringify({ message: err.message, problems: err.problems, stack: err.stack });
        for (const line of keyMaterialLines(keys)) assert.ok(!everything.includes(line), 'key material echoed');
      }
    }
    rejects(() => splitPem('PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nAAAA\n'), 'PRIVATE_KEY_SUPPLIED');
    rejects(() => splitPem(fx.privateKeys.pkcs1.replace('-----BEGIN', '----BEGIN')), 'PRIVATE_KEY_SUPPLIED');
    // Prose that merely mentions private keys is not a key.
    assert.equal(splitPem(`Begin with the PRIVATE KEY kept offline; BEGIN NO PRIVATE KEY here.\n${fx.leafRsa}`).length, 1);
  });

  it('PEM_INVALID: empty, no block, truncated, bad base64, mismatched or stray markers', () => {
    const lines = fx.leafRsa.trimEnd().split('\n');
    const body = lines.slice(1, -1);
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['   \r\n\t\n', /empty/],
      ['hello world', /no PEM block/],
      [lines.slice(0, 5).join('\n'), /no END marker/],
      [`${lines.slice(0, 5).join('\n')}\n${fx.ca.certPem}`, /cut off/],
      [fx.leafRsa.replace(body[2], `${body[2].slice(0, 20)}*${body[2].slice(21)}`), /not valid base64/],
      [fx.leafRsa.replace(body[2], body[2].slice(0, 61)), /base64/],
      [fx.leafRsa.replace('-----END CERTIFICATE-----', '-----END X509 CRL-----'), /different END label/],
      [`-----END CERTIFICATE-----\n${fx.leafRsa}`, /no matching BEGIN/],
      ['-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', /empty/],
      ['-----BEGIN CERTIFICATE---\nAAAA\n-----END CERTIFICATE-----\n', /malformed BEGIN|no matching BEGIN/],
      [`-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n${body.join('\n')}\n-----END CERTIFICATE-----\n`, /base64/],
    ];
    for (const [input, message] of cases) rejects(() => splitPem(input), 'PEM_INVALID', message);
  });

  it('PEM_INVALID for a non-canonical final base64 character', () => {
    // "AAE=" and "AAF=" decode to the same bytes; only the canonical form is accepted.
    rejects(() => splitPem('-----BEGIN CERTIFICATE-----\nAAF=\n-----END CERTIFICATE-----\n'), 'PEM_INVALID', /canonical/);
  });

  it('NOT_A_CERTIFICATE when no block is a certificate, without echoing unknown labels', () => {
    rejects(() => splitPem(fx.csr), 'NOT_A_CERTIFICATE', /CERTIFICATE REQUEST/);
    const spki = new X509Certificate(fx.leafRsa).publicKey.export({ type: 'spki', format: 'der' });
    rejects(() => splitPem(pemOf('PUBLIC KEY', spki)), 'NOT_A_CERTIFICATE');
    const err = rejects(() => splitPem(pemOf('SECRET SAUCE', Buffer.from('0123456789abcdef'))), 'NOT_A_CERTIFICATE');
    assert.doesNotMatch(err.message, /SAUCE/);
  });

  it('INPUT_TOO_LARGE above the cap, for text and bytes, before parsing', () => {
    const big = `${fx.leafRsa}${' '.repeat(256 * 1024)}`;
    rejects(() => splitPem(big), 'INPUT_TOO_LARGE', /262144 bytes/);
    rejects(() => splitPem(Buffer.from(big)), 'INPUT_TOO_LARGE');
    // Multi-byte characters count as bytes, not UTF-16 units.
    rejects(() => splitPem(`${fx.leafRsa}${'é'.repeat(130 * 1024)}`), 'INPUT_TOO_LARGE');
    rejects(() => splitPem(fx.leafRsa, { maxBytes: 100 }), 'INPUT_TOO_LARGE');
    assert.equal(splitPem(`${fx.leafRsa}${' '.repeat(256 * 1024 - fx.leafRsa.length)}`).length, 1);
  });
});

describe('parseCertificates', () => {
  it('returns certificates leaf first, ignoring a CSR or parameters beside them', () => {
    const certs = parseCertificates(`${fx.leafRsa}${fx.csr}${fx.ca.certPem}`);
    assert.deepEqual(certs.map((c) => c.subject.split('\n')[0]), ['CN=leaf-rsa', 'CN=GenesysCloudArchitectureCA']);
  });

  it('PEM_INVALID when the DER is not a certificate, is cut short or carries trailing or hidden data', () => {
    const der = new X509Certificate(fx.leafRsa).raw;
    rejects(() => parseCertificates(pemOf('CERTIFICATE', randomBytes(300))), 'PEM_INVALID');
    rejects(() => parseCertificates(pemOf('CERTIFICATE', der.subarray(0, der.length - 10))), 'PEM_INVALID', /does not parse/);
    rejects(() => parseCertificates(pemOf('CERTIFICATE', Buffer.concat([der, Buffer.from([0, 0])]))), 'PEM_INVALID', /trailing/);
    // Node's constructor would read PEM text hidden inside the base64; the pinned bytes must be the DER given.
    rejects(() => parseCertificates(pemOf('CERTIFICATE', Buffer.from(fx.leafRsa))), 'PEM_INVALID');
    const flipped = Buffer.from(der);
    flipped[4] ^= 0xff;
    rejects(() => parseCertificates(pemOf('CERTIFICATE', flipped)), 'PEM_INVALID');
  });

  it('caps the chain length', () => {
    rejects(() => parseCertificates(fx.leafRsa.repeat(11)), 'INPUT_TOO_LARGE', /11 certificates; at most 10/);
    assert.equal(parseCertificates(fx.leafRsa.repeat(10)).length, 10);
    assert.equal(parseCertificates(fx.leafRsa.repeat(50), { maxCertificates: 50 }).length, 50);
  });

  it('throws NOT_A_CERTIFICATE and PRIVATE_KEY_SUPPLIED as splitPem does', () => {
    rejects(() => parseCertificates(fx.csr), 'NOT_A_CERTIFICATE');
    rejects(() => parseCertificates(fx.privateKeys.sec1), 'PRIVATE_KEY_SUPPLIED');
  });
});

describe('digests', () => {
  it('are 44-character base64 SHA-256 values, one per role of the digest matrix', () => {
    const cert = parseCertificates(fx.leafRsa)[0];
    assert.ok(isDigest(spkiPin(cert)));
    assert.ok(isDigest(certificatePin(cert)));
    assert.notEqual(spkiPin(cert), certificatePin(cert));
    const pin = pinFromCertificate(cert, 'primary');
    assert.equal(pin.role, 'primary');
    assert.equal(pin.subject, 'CN=leaf-rsa, O=Pin Rotation Tests');
    assert.match(pin.serialNumber, /^[0-9A-F]+$/);
  });

  it('match openssl for RSA, EC and Ed25519 certificates and every chain member', { skip: NO_OPENSSL }, () => {
    const o = fx.openssl!;
    const pems = [fx.leafRsa, fx.ca.certPem, o.leafEc, o.leafEd25519, o.weakEc, o.ed25519Ca, ...o.mixedChain.split(/(?<=-----END CERTIFICATE-----\n)/)];
    for (const pem of pems.filter((p) => p.includes('BEGIN'))) {
      const info = describeCertificate(parseCertificates(pem)[0]);
      assert.deepEqual({ sha256Spki: info.sha256Spki, sha256Certificate: info.sha256Certificate }, opensslPins(pem), info.subject);
    }
  });

  it('the SPKI read from the certificate DER equals Node\'s re-encoded public key', () => {
    const pems = [fx.leafRsa, fx.weakRsa, fx.ca.certPem, fx.leafViaIntermediate];
    if (fx.openssl) pems.push(fx.openssl.leafEc, fx.openssl.leafEd25519, fx.openssl.weakEc, fx.openssl.ed25519Ca, fx.openssl.mixedChain);
    for (const pem of pems) {
      for (const cert of parseCertificates(pem)) {
        assert.deepEqual(subjectPublicKeyInfoDer(cert), cert.publicKey.export({ type: 'spki', format: 'der' }));
      }
    }
  });

  it('same key, different certificate: same SPKI pin, different certificate pin', () => {
    const a = parseCertificates(fx.leafRsa)[0];
    const b = parseCertificates(fx.expired)[0];
    assert.equal(spkiPin(a), spkiPin(b));
    assert.notEqual(certificatePin(a), certificatePin(b));
  });
});

describe('parseCertificateTime', () => {
  it('reads OpenSSL time strings as UTC, including years V8 would misread', () => {
    assert.equal(parseCertificateTime('Nov 24 13:19:13 2026 GMT')?.toISOString(), '2026-11-24T13:19:13.000Z');
    assert.equal(parseCertificateTime('Jan  2 03:04:05 2030 GMT')?.toISOString(), '2030-01-02T03:04:05.000Z');
    assert.equal(parseCertificateTime('Jan  1 00:00:00 49 GMT')?.getUTCFullYear(), 49);
    assert.equal(parseCertificateTime('Jan  1 00:00:00 0001 GMT')?.getUTCFullYear(), 1);
    assert.equal(parseCertificateTime('Dec 31 23:59:59.5 9999 GMT')?.toISOString(), '9999-12-31T23:59:59.500Z');
    assert.equal(new Date('Jan  1 00:00:00 0001 GMT').getUTCFullYear(), 2001, 'the V8 quirk this guards against');
  });

  it('refuses impossible dates and other formats', () => {
    for (const s of ['Feb 30 00:00:00 2020 GMT', 'Foo  1 00:00:00 2020 GMT', '2020-01-01T00:00:00Z', 'Jan  1 00:00:00 2020', '']) {
      assert.equal(parseCertificateTime(s), undefined, s);
    }
  });

  it('describeCertificate reports ISO dates', () => {
    const info = describeCertificate(parseCertificates(fx.leafRsa)[0]);
    assert.match(info.notBefore, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
    assert.ok(Date.parse(info.notAfter) > Date.parse(info.notBefore));
  });
});

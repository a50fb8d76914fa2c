import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CertificateError, type CertificateErrorCode } from '../../src/pins/errors';
import { describeCertificate } from '../../src/pins/digest';
import {
  validateCertificateChain,
  validateChainOrThrow,
  type ValidateOptions,
  type ValidationResult,
} from '../../src/pins/validate';
import { createFixtures, forgeCert, keyMaterialLines, NO_OPENSSL, opensslPins, type Fixtures } from './pins-fixtures';

const DAY = 86_400_000;
let fx: Fixtures;

before(async () => {
  fx = await createFixtures();
});
after(() => fx?.cleanup());

function validate(input: string | Uint8Array, opts: Partial<ValidateOptions> = {}): ValidationResult {
  return validateCertificateChain(input, { trustPem: fx.ca.certPem, at: fx.now, ...opts });
}

function codes(result: ValidationResult): CertificateErrorCode[] {
  return result.valid ? [] : result.errors.map((e) => e.code);
}

function assertValid(result: ValidationResult): asserts result is Extract<ValidationResult, { valid: true }> {
  assert.equal(result.valid, true, result.valid ? '' : JSON.stringify(result.errors));
}

function assertOnly(result: ValidationResult, code: CertificateErrorCode): void {
  assert.equal(result.valid, false);
  assert.deepEqual(codes(result), [code], JSON.stringify(result));
  if (!result.valid) assert.equal(result.error.code, code);
}

describe('validateCertificateChain: good certificates', () => {
  it('accepts an RSA 2048 leaf issued by the trusted CA and reports its pins', () => {
    const result = validate(fx.leafRsa);
    assertValid(result);
    assert.equal(result.certificates.length, 1);
    const info = result.certificates[0];
    assert.equal(info.subject, 'CN=leaf-rsa, O=Pin Rotation Tests');
    assert.equal(info.issuer, 'CN=GenesysCloudArchitectureCA, O=Pin Rotation Tests');
    assert.deepEqual(Object.keys(info), ['subject', 'issuer', 'serialNumber', 'notBefore', 'notAfter', 'sha256Spki', 'sha256Certificate']);
    assert.deepEqual(info, describeCertificate(new X509Certificate(fx.leafRsa)));
  });

  it('accepts EC P-256 and Ed25519 leaves', { skip: NO_OPENSSL }, () => {
    assertValid(validate(fx.openssl!.leafEc));
    assertValid(validate(fx.openssl!.leafEd25519));
  });

  it('pins match openssl for RSA, EC and Ed25519 leaves', { skip: NO_OPENSSL }, () => {
    for (const pem of [fx.leafRsa, fx.openssl!.leafEc, fx.openssl!.leafEd25519]) {
      const result = validate(pem);
      assertValid(result);
      const { sha256Spki, sha256Certificate } = result.certificates[0];
      assert.deepEqual({ sha256Spki, sha256Certificate }, opensslPins(pem));
    }
  });

  it('follows leaf → intermediate → trusted root and lists the chain leaf first', () => {
    const chain = fx.leafViaIntermediate + fx.intermediate.certPem;
    const result = validate(chain, { expectedIssuer: fx.intermediate.cn });
    assertValid(result);
    assert.deepEqual(
      result.certificates.map((c) => c.subject.split(',')[0]),
      ['CN=leaf-via-intermediate', 'CN=Pin Tests Intermediate CA'],
    );
    // The root may be included in the chain too; the path still ends at the trust bundle.
    assertValid(validate(chain + fx.ca.certPem, { expectedIssuer: fx.intermediate.cn }));
    // The intermediate may be the trust anchor itself.
    assertValid(validate(fx.leafViaIntermediate, { expectedIssuer: fx.intermediate.cn, trustPem: fx.intermediate.certPem }));
  });

  it('verifies mixed algorithms: RSA root → EC P-384 intermediate → Ed25519 leaf, and an Ed25519 root', { skip: NO_OPENSSL }, () => {
    const o = fx.openssl!;
    assertValid(validate(o.mixedChain, { expectedIssuer: o.mixedIntermediateCn }));
    assertValid(validate(o.leafByEd25519Ca, { expectedIssuer: 'Pin Tests Ed25519 Root', trustPem: o.ed25519Ca }));
  });

  it('finds the anchor in a bundle of several CAs with text between them', () => {
    const bundle = `# our bundle\r\n${fx.otherCa.certPem}\r\nsome note\r\n${fx.forgerCa.certPem}${fx.ca.certPem}`;
    assertValid(validate(fx.leafRsa, { trustPem: bundle }));
  });

  it('validateChainOrThrow returns the certificates or throws every problem', () => {
    assert.equal(validateChainOrThrow(fx.leafRsa, { trustPem: fx.ca.certPem, at: fx.now }).length, 1);
    assert.throws(
      () => validateChainOrThrow(fx.caLeaf, { trustPem: fx.ca.certPem, at: new Date(fx.now.getTime() + 400 * DAY) }),
      (err: unknown) =>
        err instanceof CertificateError &&
        err.code === 'CERT_EXPIRED' &&
        err.problems.map((p) => p.code).join() === 'CERT_EXPIRED,CERT_IS_CA',
    );
  });
});

describe('validateCertificateChain: every error code', () => {
  it('CERT_EXPIRED', () => {
    const result = validate(fx.expired);
    assertOnly(result, 'CERT_EXPIRED');
    assert.match(result.valid ? '' : result.error.message, /expired at \d{4}-/);
  });

  it('CERT_NOT_YET_VALID', () => assertOnly(validate(fx.notYetValid), 'CERT_NOT_YET_VALID'));

  it('CERT_NOT_YET_VALID and CERT_EXPIRED follow `at`', () => {
    assertOnly(validate(fx.leafRsa, { at: new Date(fx.now.getTime() - 2 * DAY) }), 'CERT_NOT_YET_VALID');
    assertOnly(validate(fx.leafRsa, { at: new Date(fx.now.getTime() + 91 * DAY) }), 'CERT_EXPIRED');
  });

  it('EXPIRES_TOO_SOON below minRemainingMs, valid above it', () => {
    assertOnly(validate(fx.tooSoon, { minRemainingMs: 7 * DAY }), 'EXPIRES_TOO_SOON');
    assertValid(validate(fx.tooSoon, { minRemainingMs: DAY }));
    assertValid(validate(fx.tooSoon));
  });

  it('CERT_IS_CA for a leaf with basicConstraints CA:TRUE', () => assertOnly(validate(fx.caLeaf), 'CERT_IS_CA'));

  it('KEY_TOO_WEAK for RSA 1024', () => {
    const result = validate(fx.weakRsa);
    assertOnly(result, 'KEY_TOO_WEAK');
    assert.match(result.valid ? '' : result.error.message, /1024 bits/);
  });

  it('KEY_TOO_WEAK for an EC curve under 256 bits', { skip: NO_OPENSSL }, () => {
    const result = validate(fx.openssl!.weakEc);
    assertOnly(result, 'KEY_TOO_WEAK');
    assert.match(result.valid ? '' : result.error.message, /(192|224) bits/);
  });

  it('EKU_MISSING_CLIENT_AUTH without an EKU extension and with serverAuth only', () => {
    assertOnly(validate(fx.noEku), 'EKU_MISSING_CLIENT_AUTH');
    assertOnly(validate(fx.serverAuthOnly), 'EKU_MISSING_CLIENT_AUTH');
  });

  it('ISSUER_MISMATCH when the issuer CN differs, even if the signature verifies', () => {
    assertOnly(validate(fx.wrongIssuer, { trustPem: fx.ca.certPem + fx.otherCa.certPem }), 'ISSUER_MISMATCH');
    const both = validate(fx.wrongIssuer);
    assert.deepEqual(codes(both), ['ISSUER_MISMATCH', 'SIGNATURE_INVALID']);
    assertOnly(validate(fx.leafRsa, { expectedIssuer: 'Somebody Else' }), 'ISSUER_MISMATCH');
  });

  it('SIGNATURE_INVALID for a forged certificate: right issuer name, different key', () => {
    const forgedCert = new X509Certificate(fx.forged);
    const caCert = new X509Certificate(fx.ca.certPem);
    assert.equal(forgedCert.issuer, caCert.subject, 'fixture: the names match');
    const result = validate(fx.forged);
    assertOnly(result, 'SIGNATURE_INVALID');
    assert.match(result.valid ? '' : result.error.message, /does not verify/);
  });

  it('SIGNATURE_INVALID when the forger ships its own same-named root in the chain', () => {
    assertOnly(validate(fx.forged + fx.forgerCa.certPem), 'SIGNATURE_INVALID');
  });

  it('SIGNATURE_INVALID when the intermediate is missing', () => {
    const result = validate(fx.leafViaIntermediate, { expectedIssuer: fx.intermediate.cn });
    assertOnly(result, 'SIGNATURE_INVALID');
    assert.match(result.valid ? '' : result.error.message, /no certificate in the chain or the trust bundle/);
  });

  it('NOT_A_CA when the signing intermediate is not a CA', () => {
    const result = validate(fx.leafViaNotCa + fx.notCaIntermediate.certPem, { expectedIssuer: fx.notCaIntermediate.cn });
    assert.deepEqual(codes(result), ['NOT_A_CA', 'NOT_A_CA'], JSON.stringify(result));
    assert.match(result.valid ? '' : result.error.message, /^intermediate CN=Pin Tests Not A CA.* cA FALSE/);
    assert.match(result.valid ? '' : result.errors[1].message, /keyCertSign/);
  });

  it('CERT_EXPIRED for an expired intermediate on the path', () => {
    const interKey = new X509Certificate(fx.intermediate.certPem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const leafKey = new X509Certificate(fx.leafRsa).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const expiredInter = {
      cn: 'Expired Intermediate',
      keyPem: fx.intermediate.keyPem,
      certPem: forgeCert({
        cn: 'Expired Intermediate', publicPem: interKey, issuer: fx.ca, ca: true,
        notBefore: new Date(fx.now.getTime() - 30 * DAY), notAfter: new Date(fx.now.getTime() - DAY),
      }),
    };
    const leaf = forgeCert({
      cn: 'leaf-under-expired', publicPem: leafKey, issuer: expiredInter,
      notBefore: new Date(fx.now.getTime() - DAY), notAfter: new Date(fx.now.getTime() + 30 * DAY),
    });
    const result = validate(leaf + expiredInter.certPem, { expectedIssuer: expiredInter.cn });
    assertOnly(result, 'CERT_EXPIRED');
    assert.match(result.valid ? '' : result.error.message, /^intermediate CN=Expired Intermediate/);
  });

  it('a chain of ten same-named, mutually signing CA certificates is refused quickly', () => {
    const start = Date.now();
    const result = validate(fx.forged + fx.forgerCa.certPem.repeat(9));
    assertOnly(result, 'SIGNATURE_INVALID');
    assert.ok(Date.now() - start < 500, `${Date.now() - start} ms`);
  });

  it('SIGNATURE_INVALID naming the trust bundle when the bundle is unusable', () => {
    for (const trustPem of ['', 'garbage', fx.csr, fx.privateKeys.pkcs8, '-----BEGIN CERTIFICATE-----\nAAAA\n']) {
      const result = validate(fx.leafRsa, { trustPem });
      assertOnly(result, 'SIGNATURE_INVALID');
      assert.match(result.valid ? '' : result.error.message, /trust bundle/);
    }
    const result = validate(fx.leafRsa, { trustPem: fx.privateKeys.pkcs8 });
    for (const line of keyMaterialLines([fx.privateKeys.pkcs8])) assert.ok(!JSON.stringify(result).includes(line));
  });

  it('PRIVATE_KEY_SUPPLIED for every key flavour, with no key bytes in the result', () => {
    const keys = Object.values(fx.privateKeys);
    for (const key of keys) {
      for (const input of [key, fx.leafRsa + key, key + fx.leafRsa, key.slice(0, 120)]) {
        const result = validate(input);
        assertOnly(result, 'PRIVATE_KEY_SUPPLIED');
        const text = JSON.stringify(result);
        for (const line of keyMaterialLines(keys)) assert.ok(!text.includes(line), 'key material echoed');
      }
    }
  });

  it('PEM_INVALID for truncated, bad base64 or empty input', () => {
    const lines = fx.leafRsa.split('\n');
    assertOnly(validate(lines.slice(0, 8).join('\n')), 'PEM_INVALID');
    assertOnly(validate(fx.leafRsa.replace(/\n-----END CERTIFICATE-----\n$/, '\n')), 'PEM_INVALID');
    assertOnly(validate(fx.leafRsa.replace(lines[3], `${lines[3].slice(0, 10)}!${lines[3].slice(11)}`)), 'PEM_INVALID');
    assertOnly(validate(''), 'PEM_INVALID');
    assertOnly(validate(new Uint8Array([0, 1, 2, 255])), 'PEM_INVALID');
  });

  it('NOT_A_CERTIFICATE for a CSR', () => {
    assertOnly(validate(fx.csr), 'NOT_A_CERTIFICATE');
  });

  it('NOT_A_CERTIFICATE for an openssl CSR', { skip: NO_OPENSSL }, () => {
    assertOnly(validate(fx.openssl!.csr), 'NOT_A_CERTIFICATE');
  });

  it('INPUT_TOO_LARGE above 256 KiB, even when a valid certificate is inside', () => {
    const padded = `${fx.leafRsa}\n${'#'.repeat(256 * 1024)}\n`;
    assertOnly(validate(padded), 'INPUT_TOO_LARGE');
    assertOnly(validate(Buffer.from(padded)), 'INPUT_TOO_LARGE');
  });

  it('accepts CRLF line ends and text around the blocks', () => {
    const crlf = `subject: leaf\r\n\r\n${fx.leafRsa.replace(/\n/g, '\r\n')}\r\ntrailing words\r\n`;
    assertValid(validate(crlf));
    assertValid(validate(Buffer.from(crlf)));
  });

  it('reports every problem, headline first in the documented order', () => {
    // The CA leaf is also expired at this moment, and the expected issuer is different.
    const result = validate(fx.caLeaf, { at: new Date(fx.now.getTime() + 400 * DAY), expectedIssuer: 'X', trustPem: fx.otherCa.certPem });
    assert.deepEqual(codes(result), ['CERT_EXPIRED', 'CERT_IS_CA', 'ISSUER_MISMATCH', 'SIGNATURE_INVALID']);
    assert.equal(result.valid ? '' : result.error.code, 'CERT_EXPIRED');
  });

  it('throws RangeError only for invalid options', () => {
    assert.throws(() => validate(fx.leafRsa, { at: new Date('nope') }), RangeError);
    assert.throws(() => validate(fx.leafRsa, { minRemainingMs: -1 }), RangeError);
  });
});

/**
 * RFC 5280 path validation, one property per test: each refused chain differs from an accepted chain by
 * exactly that one defect, and is made here (pins-chain.ts), never committed.
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { commonName, describeCertificate } from '../../src/pins/digest';
import type { CertificateErrorCode } from '../../src/pins/errors';
import { validateCertificateChain, type ValidateOptions, type ValidationResult } from '../../src/pins/validate';
import {
  ANY_EKU,
  CA_USAGE,
  caSpec,
  CLIENT_AUTH,
  DAY,
  dsaKey,
  ecKey,
  EMAIL_PROTECTION,
  issue,
  KU,
  leafSpec,
  rsaKey,
  SERVER_AUTH,
  withExplicitCurve,
  type CertSpec,
  type Issued,
  type KeyPair,
} from './pins-chain';
import { NO_OPENSSL } from './pins-fixtures';

const NOW = Date.UTC(2026, 5, 1);
const AT = new Date(NOW);
const UNKNOWN_OID = '1.3.6.1.4.1.55555.1.1';

let keys: Record<'root' | 'inter' | 'sub' | 'leaf' | 'other' | 'p192' | 'rsa2048' | 'rsa1024' | 'dsa', KeyPair>;
let root: Issued;
let inter: Issued;

before(() => {
  keys = {
    root: ecKey(),
    inter: ecKey(),
    sub: ecKey(),
    leaf: ecKey(),
    other: ecKey(),
    p192: ecKey('prime192v1'),
    rsa2048: rsaKey(2048),
    rsa1024: rsaKey(1024),
    dsa: dsaKey(),
  };
  root = issue(caSpec('Chain Root', keys.root), NOW);
  inter = issue(caSpec('Chain Intermediate', keys.inter, root), NOW);
});

const mk = (spec: CertSpec): Issued => issue(spec, NOW);
const leafUnder = (issuer: Issued, change: Partial<CertSpec> = {}): Issued => mk({ ...leafSpec('client-1', keys.leaf, issuer), ...change });
const interUnder = (issuer: Issued, change: Partial<CertSpec> = {}): Issued => mk({ ...caSpec('Chain Intermediate', keys.inter, issuer), ...change });

function validate(chain: Issued[], opts: Partial<ValidateOptions> & { trust?: Issued[] } = {}): ValidationResult {
  const { trust, ...rest } = opts;
  const issuerCn = commonName(new X509Certificate(chain[0].der).issuer);
  return validateCertificateChain(chain.map((c) => c.pem).join(''), {
    trustPem: (trust ?? [root]).map((c) => c.pem).join(''),
    at: AT,
    expectedIssuer: issuerCn,
    ...rest,
  });
}

const codes = (r: ValidationResult): CertificateErrorCode[] => (r.valid ? [] : r.errors.map((e) => e.code));

function accepted(r: ValidationResult): void {
  assert.equal(r.valid, true, JSON.stringify(r));
}

function refused(r: ValidationResult, code: CertificateErrorCode, message?: RegExp): void {
  assert.deepEqual(codes(r), [code], JSON.stringify(r));
  if (message && !r.valid) assert.match(r.error.message, message);
}

describe('path validation: the accepted chain', () => {
  it('leaf → intermediate → root is accepted, in any order, with the root in the chain or not', () => {
    const leaf = leafUnder(inter);
    accepted(validate([leaf, inter]));
    accepted(validate([leaf, inter, root]));
    accepted(validate([leaf, root, inter]));
  });
});

describe('path validation: pathLenConstraint (PATH_LEN_EXCEEDED)', () => {
  it('a sub-CA below an intermediate limited to pathlen 0 is refused; without the limit it is accepted', () => {
    const sub = (limited: Issued) => mk(caSpec('Chain Sub CA', keys.sub, limited));
    const open = interUnder(root);
    const limited = interUnder(root, { pathLen: 0 });
    accepted(validate([leafUnder(sub(open)), sub(open), open]));
    refused(validate([leafUnder(sub(limited)), sub(limited), limited]), 'PATH_LEN_EXCEEDED', /Chain Sub CA.*pathLenConstraint/);
  });

  it("the anchor's own pathlen 0 allows no intermediate", () => {
    const limitedRoot = mk({ ...caSpec('Chain Root', keys.root), pathLen: 0 });
    const i = interUnder(limitedRoot);
    refused(validate([leafUnder(i), i], { trust: [limitedRoot] }), 'PATH_LEN_EXCEEDED');
    accepted(validate([leafUnder(limitedRoot)], { trust: [limitedRoot] }));
  });

  it('a self-issued certificate (key rollover) does not count against pathlen 0', () => {
    const limited = interUnder(root, { pathLen: 0 });
    // Same name, new key, signed by the old key: RFC 5280 §6.1.4 (l) does not count it.
    const rolled = mk({ ...caSpec('Chain Intermediate', keys.sub, limited) });
    const leaf = mk(leafSpec('client-1', keys.leaf, rolled));
    accepted(validate([leaf, rolled, limited]));
  });
});

describe('path validation: CA flags (CERT_IS_CA, NOT_A_CA)', () => {
  it('a leaf with basicConstraints cA TRUE but no keyCertSign is CERT_IS_CA', () => {
    refused(validate([leafUnder(inter, { ca: true }), inter]), 'CERT_IS_CA');
  });

  it('an intermediate without basicConstraints, with cA FALSE, or without keyCertSign is NOT_A_CA', () => {
    for (const change of [{ ca: undefined }, { ca: false }, { keyUsage: KU.digitalSignature | KU.cRLSign }] as Array<Partial<CertSpec>>) {
      const i = interUnder(root, change);
      refused(validate([leafUnder(i), i]), 'NOT_A_CA', /^intermediate O=Pin Chain Tests, CN=Chain Intermediate /);
    }
    // keyUsage absent altogether is allowed (RFC 5280 §6.1.4 (n) checks it only when present).
    const noKu = interUnder(root, { keyUsage: undefined });
    accepted(validate([leafUnder(noKu), noKu]));
  });

  it('a trust anchor without basicConstraints or with cA FALSE is NOT_A_CA', () => {
    for (const change of [{ ca: undefined }, { ca: false }] as Array<Partial<CertSpec>>) {
      const badRoot = mk({ ...caSpec('Chain Root', keys.root), ...change });
      const i = interUnder(badRoot);
      refused(validate([leafUnder(i), i], { trust: [badRoot] }), 'NOT_A_CA', /^trust anchor O=Pin Chain Tests, CN=Chain Root /);
    }
  });

  it('a version 1 intermediate cannot be a CA', () => {
    const v1 = interUnder(root, { version: 1 });
    refused(validate([leafUnder(v1), v1]), 'NOT_A_CA', /version 1/);
  });
});

describe('path validation: extended key usage of every certificate (EKU_MISSING_CLIENT_AUTH)', () => {
  it('an intermediate limited to emailProtection is refused', () => {
    const i = interUnder(root, { eku: [EMAIL_PROTECTION] });
    refused(validate([leafUnder(i), i]), 'EKU_MISSING_CLIENT_AUTH', /^intermediate/);
  });

  it('an intermediate allowing clientAuth or any purpose is accepted', () => {
    for (const eku of [[SERVER_AUTH, CLIENT_AUTH], [ANY_EKU]]) {
      const i = interUnder(root, { eku });
      accepted(validate([leafUnder(i), i]));
    }
  });

  it('a trust anchor limited to serverAuth is refused', () => {
    const r = mk({ ...caSpec('Chain Root', keys.root), eku: [SERVER_AUTH] });
    const i = interUnder(r);
    refused(validate([leafUnder(i), i], { trust: [r] }), 'EKU_MISSING_CLIENT_AUTH', /^trust anchor/);
  });

  it('a leaf whose key usage lacks digitalSignature cannot sign a handshake', () => {
    refused(validate([leafUnder(inter, { keyUsage: KU.keyEncipherment }), inter]), 'EKU_MISSING_CLIENT_AUTH', /digitalSignature/);
  });
});

describe('path validation: signature algorithms (WEAK_SIGNATURE_ALGORITHM)', () => {
  it('an intermediate signed with ECDSA-SHA1 is refused', () => {
    const i = interUnder(root, { hash: 'sha1' });
    refused(validate([leafUnder(i), i]), 'WEAK_SIGNATURE_ALGORITHM', /^intermediate.*SHA-1/);
  });

  it('a leaf signed with SHA-1 or MD5 (RSA) is refused', () => {
    const rsaInter = interUnder(root, { key: keys.rsa2048 });
    accepted(validate([leafUnder(rsaInter), rsaInter]));
    refused(validate([leafUnder(rsaInter, { hash: 'sha1' }), rsaInter]), 'WEAK_SIGNATURE_ALGORITHM', /^leaf.*SHA-1/);
    refused(validate([leafUnder(rsaInter, { hash: 'md5' }), rsaInter]), 'WEAK_SIGNATURE_ALGORITHM', /MD5/);
  });

  it("the anchor's own SHA-1 self-signature is not part of the path", () => {
    const r = mk({ ...caSpec('Chain Root', keys.root), hash: 'sha1' });
    const i = interUnder(r);
    accepted(validate([leafUnder(i), i], { trust: [r] }));
  });

  it('outer and signed signature algorithms must agree', () => {
    const leaf = leafUnder(inter, { outerHash: 'sha384' });
    const r = validate([leaf, inter]);
    assert.equal(r.valid, false);
    assert.ok(codes(r).every((c) => c === 'SIGNATURE_INVALID'), JSON.stringify(r));
  });
});

describe('path validation: key strength on every certificate (KEY_TOO_WEAK)', () => {
  it('an RSA-1024 intermediate is refused; RSA-2048 is accepted', () => {
    const weak = interUnder(root, { key: keys.rsa1024 });
    refused(validate([leafUnder(weak), weak]), 'KEY_TOO_WEAK', /^intermediate.*1024 bits/);
  });

  it('RSA-1024, P-192 and DSA roots are refused', () => {
    for (const key of [keys.rsa1024, keys.p192, keys.dsa]) {
      const r = mk(caSpec('Chain Root', key));
      const i = interUnder(r);
      refused(validate([leafUnder(i), i], { trust: [r] }), 'KEY_TOO_WEAK', /^trust anchor/);
    }
  });

  it('a DSA intermediate is refused whatever its size', () => {
    const i = interUnder(root, { key: keys.dsa });
    refused(validate([leafUnder(i), i]), 'KEY_TOO_WEAK', /DSA/);
  });

  it('explicit EC curve parameters are refused, the same key with a named curve accepted', { skip: NO_OPENSSL }, () => {
    const explicit = withExplicitCurve(keys.leaf);
    const leaf = leafUnder(inter, { key: explicit });
    refused(validate([leaf, inter]), 'KEY_TOO_WEAK', /explicit curve parameters/);
    // The pin is over the SPKI bytes the certificate carries, not Node's re-encoding with the named curve.
    const pin = describeCertificate(new X509Certificate(leaf.der)).sha256Spki;
    assert.equal(pin, createHash('sha256').update(explicit.spki).digest('base64'));
    assert.notEqual(pin, createHash('sha256').update(keys.leaf.spki).digest('base64'));
  });
});

describe('path validation: critical extensions (UNKNOWN_CRITICAL_EXTENSION)', () => {
  it('an unknown critical extension on the leaf, an intermediate or the root is refused; non-critical is ignored', () => {
    const extra = (critical: boolean) => ({ extra: [{ oid: UNKNOWN_OID, critical }] });
    accepted(validate([leafUnder(inter, extra(false)), inter]));
    refused(validate([leafUnder(inter, extra(true)), inter]), 'UNKNOWN_CRITICAL_EXTENSION', /^leaf.*1\.3\.6\.1\.4\.1\.55555/);
    const i = interUnder(root, extra(true));
    refused(validate([leafUnder(i), i]), 'UNKNOWN_CRITICAL_EXTENSION', /^intermediate/);
    const r = mk({ ...caSpec('Chain Root', keys.root), ...extra(true) });
    const i2 = interUnder(r);
    refused(validate([leafUnder(i2), i2], { trust: [r] }), 'UNKNOWN_CRITICAL_EXTENSION', /^trust anchor/);
  });
});

describe('path validation: validity of every certificate (CERT_EXPIRED)', () => {
  it('an expired trust anchor is refused', () => {
    const r = mk({ ...caSpec('Chain Root', keys.root), notBefore: new Date(NOW - 400 * DAY), notAfter: new Date(NOW - DAY) });
    const i = interUnder(r);
    refused(validate([leafUnder(i), i], { trust: [r] }), 'CERT_EXPIRED', /^trust anchor O=Pin Chain Tests, CN=Chain Root /);
  });

  it('a not-yet-valid intermediate is refused', () => {
    const i = interUnder(root, { notBefore: new Date(NOW + DAY) });
    refused(validate([leafUnder(i), i]), 'CERT_NOT_YET_VALID', /^intermediate/);
  });
});

describe('path building: every candidate path', () => {
  it('an expired copy of the intermediate listed before the valid one: accepted (the old builder said CERT_EXPIRED)', () => {
    const expired = interUnder(root, { notBefore: new Date(NOW - 400 * DAY), notAfter: new Date(NOW - DAY) });
    const valid = interUnder(root);
    const leaf = leafUnder(valid);
    accepted(validate([leaf, expired, valid]));
    // With only the expired copy, that path's problem is reported.
    refused(validate([leaf, expired]), 'CERT_EXPIRED', /^intermediate/);
  });

  it('a cross-signed alternative: the first candidate leads to an expired legacy root, the second to the current root', () => {
    const legacyRoot = mk({
      ...caSpec('Chain Legacy Root', keys.other), notBefore: new Date(NOW - 4000 * DAY), notAfter: new Date(NOW - DAY),
    });
    const crossSigned = interUnder(legacyRoot);
    const current = interUnder(root);
    const leaf = leafUnder(current);
    accepted(validate([leaf, crossSigned, current], { trust: [legacyRoot, root] }));
    refused(validate([leaf, crossSigned], { trust: [legacyRoot, root] }), 'CERT_EXPIRED', /^trust anchor O=Pin Chain Tests, CN=Chain Legacy Root /);
  });

  it('a SHA-1 cross-certificate listed first does not hide the SHA-256 path', () => {
    const sha1 = interUnder(root, { hash: 'sha1' });
    const sha256 = interUnder(root);
    accepted(validate([leafUnder(sha256), sha1, sha256]));
  });

  it('when every path fails, the best path is reported: all its problems, the first as headline', () => {
    const expired = interUnder(root, { notBefore: new Date(NOW - 400 * DAY), notAfter: new Date(NOW - DAY) });
    const twice = interUnder(root, { notAfter: new Date(NOW - DAY), notBefore: new Date(NOW - 400 * DAY), hash: 'sha1' });
    const r = validate([leafUnder(expired), twice, expired]);
    refused(r, 'CERT_EXPIRED');
  });

  it('a pool of mutually cross-signing same-named CAs without an anchor is refused quickly', () => {
    const caKeys = [keys.inter, keys.sub, keys.other, keys.rsa2048];
    // Every "Chain Intermediate" key signs a certificate for every other one: a dense graph of valid
    // signatures in which no path reaches the root, since nothing here is issued by "Chain Root".
    const pool: Issued[] = [];
    for (const k of caKeys) for (const by of caKeys) if (k !== by) pool.push(mk({ ...caSpec('Chain Intermediate', k), issuer: { ...inter, key: by } }));
    const leaf = leafUnder(inter);
    const start = Date.now();
    const r = validate([leaf, ...pool.slice(0, 9)]);
    assert.ok(Date.now() - start < 1000, `${Date.now() - start} ms`);
    refused(r, 'SIGNATURE_INVALID');
  });
});

describe('identity (IDENTITY_MISMATCH)', () => {
  it('the leaf CN or a SAN must equal the client id, its name or an allowed name', () => {
    const leaf = leafUnder(inter, { san: { dns: ['Client-1.Example.com'], uri: ['urn:genesys:client:abc'] } });
    accepted(validate([leaf, inter], { identity: { clientId: 'client-1' } }));
    accepted(validate([leaf, inter], { identity: { clientId: 'urn:genesys:client:abc' } }));
    accepted(validate([leaf, inter], { identity: { clientId: 'x', clientName: 'client-1.example.com' } }));
    accepted(validate([leaf, inter], { identity: { clientId: 'x', allowedNames: ['client-1'] } }));
    refused(validate([leaf, inter], { identity: { clientId: 'client-2', clientName: 'Billing' } }), 'IDENTITY_MISMATCH', /client-2.*Billing/);
    // Not checked without the option.
    accepted(validate([leaf, inter]));
  });

  it('a leaf with an empty subject and a critical SAN is answered, and its SAN is its identity', () => {
    const leaf = leafUnder(inter, { cn: null, san: { dns: ['client-1'] } });
    accepted(validate([leaf, inter], { identity: { clientId: 'client-1' } }));
    refused(validate([leaf, inter], { identity: { clientId: 'client-9' } }), 'IDENTITY_MISMATCH');
    const r = validate([leaf, inter]);
    assert.equal(r.valid && r.certificates[0].subject, '');
  });

  it('a leaf with neither CN nor SAN names nobody', () => {
    refused(validate([leafUnder(inter, { cn: null }), inter], { identity: { clientId: 'client-1' } }), 'IDENTITY_MISMATCH', /names nobody/);
  });
});

describe('policy', () => {
  it('the CA use of a key needs keyCertSign even when cA is TRUE (CA_USAGE has it)', () => {
    assert.ok(CA_USAGE & KU.keyCertSign);
  });
});

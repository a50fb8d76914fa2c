/**
 * Property: any chain of certificates that parse gets an answer, never a crash, from `validate`, from the
 * pins (`describeCertificate`, what `pinrotate pins` prints) and from `pinrotate validate`; and a leaf defect
 * the generator put in is always among the reported problems. Chains are generated with every flag the
 * validator reads, in any order, duplicated, with weak keys, SHA-1, empty subjects and unknown extensions.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { run as runPins } from '../../src/cli/commands/pins';
import { run as runValidate } from '../../src/cli/commands/validate';
import { describeCertificate } from '../../src/pins/digest';
import { isCertificateErrorCode } from '../../src/pins/errors';
import { parseCertificates } from '../../src/pins/pem';
import { validateCertificateChain } from '../../src/pins/validate';
import {
  ANY_EKU,
  CA_USAGE,
  CLIENT_AUTH,
  DAY,
  dsaKey,
  ecKey,
  ed25519Key,
  EMAIL_PROTECTION,
  issue,
  KU,
  rsaKey,
  type CertSpec,
  type Hash,
  type Issued,
  type KeyPair,
} from './pins-chain';

const NOW = Date.UTC(2026, 5, 1);
let keys: KeyPair[];
let dir: string;

before(() => {
  // Index 0-3 are strong; 4-6 weak (P-192, RSA-1024, DSA).
  keys = [ecKey(), ecKey('P-384'), ed25519Key(), rsaKey(2048), ecKey('prime192v1'), rsaKey(1024), dsaKey()];
  dir = mkdtempSync(join(tmpdir(), 'pins-prop-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface GenCert {
  key: number;
  hash: Hash;
  ca: boolean | undefined;
  pathLen: number | undefined;
  keyUsage: number | undefined;
  eku: string[] | undefined;
  cn: string | null;
  san: boolean;
  critical: boolean;
  validity: 'ok' | 'expired' | 'future';
  version: 1 | 3;
  /** Which earlier certificate (index into the generated list, or -1 self) issues this one. */
  issuer: number;
  /** Reuse the name of an earlier certificate (cross-signing, same-named forgers). */
  sameNameAs: number;
}

const genCert: fc.Arbitrary<GenCert> = fc.record({
  key: fc.nat({ max: 6 }),
  hash: fc.constantFrom<Hash>('sha256', 'sha256', 'sha1'),
  ca: fc.constantFrom(true, true, false, undefined),
  pathLen: fc.constantFrom(undefined, undefined, 0, 1),
  keyUsage: fc.constantFrom(CA_USAGE, KU.digitalSignature, CA_USAGE | KU.digitalSignature, undefined, 0),
  eku: fc.constantFrom(undefined, [CLIENT_AUTH], [EMAIL_PROTECTION], [ANY_EKU]),
  cn: fc.constantFrom('A', 'B', 'client-1', null),
  san: fc.boolean(),
  critical: fc.boolean(),
  validity: fc.constantFrom('ok', 'ok', 'ok', 'expired', 'future'),
  version: fc.constantFrom<1 | 3>(3, 3, 3, 1),
  issuer: fc.integer({ min: -1, max: 4 }),
  sameNameAs: fc.integer({ min: -1, max: 4 }),
});

function build(gen: GenCert[]): Issued[] {
  const out: Issued[] = [];
  for (const [i, g] of gen.entries()) {
    const key = keys[g.key];
    const hash: Hash = key.privateKey.asymmetricKeyType === 'dsa' ? 'sha256' : g.hash;
    const issuer = g.issuer >= 0 && g.issuer < i ? out[g.issuer] : undefined;
    const spec: CertSpec = {
      cn: g.cn,
      key,
      issuer: issuer && { ...issuer },
      ca: g.ca,
      pathLen: g.ca ? g.pathLen : undefined,
      keyUsage: g.keyUsage,
      eku: g.eku,
      san: g.san || g.cn === null ? { dns: ['client-1.example'], email: ['ops@example.com'] } : undefined,
      extra: g.critical ? [{ oid: '1.3.6.1.4.1.55555.9', critical: true }] : undefined,
      hash,
      version: g.version,
      notBefore: new Date(NOW + (g.validity === 'future' ? DAY : -400 * DAY)),
      notAfter: new Date(NOW + (g.validity === 'expired' ? -DAY : 400 * DAY)),
      name: g.sameNameAs >= 0 && g.sameNameAs < i ? out[g.sameNameAs].name : undefined,
    };
    out.push(issue(spec, NOW));
  }
  return out;
}

const GOOD_ROOT: GenCert = {
  key: 0, hash: 'sha256', ca: true, pathLen: undefined, keyUsage: CA_USAGE, eku: undefined, cn: 'A', san: false,
  critical: false, validity: 'ok', version: 3, issuer: -1, sameNameAs: -1,
};
const GOOD_LEAF: GenCert = {
  ...GOOD_ROOT, key: 3, ca: false, keyUsage: KU.digitalSignature, eku: [CLIENT_AUTH], cn: 'client-1', issuer: 0,
};

/** Freely generated chains: leaf = the last generated certificate; the rest in any order, some twice. */
const randomChain = fc.record({
  certs: fc.array(genCert, { minLength: 1, maxLength: 5 }),
  order: fc.array(fc.nat({ max: 4 }), { maxLength: 6 }),
  trust: fc.array(fc.nat({ max: 4 }), { minLength: 1, maxLength: 3 }),
});

/** An accepted root → leaf chain with at most one field of one certificate changed. */
const mutatedGoodChain = fc
  .tuple(fc.option(fc.tuple(fc.boolean(), fc.constantFrom(...(Object.keys(GOOD_ROOT) as Array<keyof GenCert>)), genCert)))
  .map(([mutation]) => {
    const certs = [{ ...GOOD_ROOT }, { ...GOOD_LEAF }];
    if (mutation) {
      const [onLeaf, field, from] = mutation;
      (certs[onLeaf ? 1 : 0] as Record<string, unknown>)[field] = from[field];
    }
    return { certs, order: [] as number[], trust: [0] };
  });

const chainArb = fc.oneof(randomChain, mutatedGoodChain);

describe('generated chains: every chain gets an answer', () => {
  it('validate, pins and the CLI answer; leaf defects are reported', async () => {
    let valid = 0;
    let invalid = 0;
    await fc.assert(
      fc.asyncProperty(chainArb, async ({ certs, order, trust }) => {
        const issued = build(certs);
        const leaf = issued[issued.length - 1];
        const rest = order.filter((i) => i < issued.length - 1).map((i) => issued[i]);
        const chainPem = [leaf, ...rest].map((c) => c.pem).join('');
        const trustPem = trust.filter((i) => i < issued.length).map((i) => issued[i].pem).join('') || issued[0].pem;
        const at = new Date(NOW);

        const result = validateCertificateChain(chainPem, { trustPem, at, expectedIssuer: 'A', identity: { clientId: 'client-1' } });
        assert.deepEqual(validateCertificateChain(chainPem, { trustPem, at, expectedIssuer: 'A', identity: { clientId: 'client-1' } }), result);
        if (result.valid) {
          valid++;
        } else {
          invalid++;
          assert.deepEqual(result.error, result.errors[0]);
          for (const e of result.errors) assert.ok(isCertificateErrorCode(e.code) && typeof e.message === 'string', JSON.stringify(e));
        }
        const codes = result.valid ? [] : result.errors.map((e) => e.code);
        const g = certs[certs.length - 1];
        const weakKey = g.key >= 4;
        if (weakKey) assert.ok(codes.includes('KEY_TOO_WEAK'), `weak leaf key accepted: ${JSON.stringify(result)}`);
        if (g.ca === true && g.version === 3) assert.ok(codes.includes('CERT_IS_CA'), JSON.stringify(result));
        if (g.version === 1 || !g.eku?.includes(CLIENT_AUTH)) assert.ok(codes.includes('EKU_MISSING_CLIENT_AUTH'), JSON.stringify(result));
        if (g.critical && g.version === 3) assert.ok(codes.includes('UNKNOWN_CRITICAL_EXTENSION'), JSON.stringify(result));
        if (g.validity === 'expired') assert.ok(codes.includes('CERT_EXPIRED'), JSON.stringify(result));
        if (g.hash === 'sha1' && g.issuer >= 0 && !weakKey && keys[certs[g.issuer]?.key ?? 0]?.privateKey.asymmetricKeyType !== 'ed25519') {
          // A SHA-1 leaf signature is weak whoever signed it (ed25519 and DSA issuers ignore the hash choice).
          const signer = g.issuer < certs.length - 1 ? keys[certs[g.issuer].key] : undefined;
          if (signer && signer.privateKey.asymmetricKeyType !== 'dsa') assert.ok(codes.includes('WEAK_SIGNATURE_ALGORITHM'), JSON.stringify(result));
        }

        // Pins: every certificate that parses has both digests, over exactly the bytes it carries.
        const parsed = parseCertificates(chainPem);
        for (const [i, cert] of parsed.entries()) {
          const info = describeCertificate(cert);
          const source = [leaf, ...rest][i];
          assert.equal(info.sha256Spki, createHash('sha256').update(source.key.spki).digest('base64'));
          assert.equal(info.sha256Certificate, createHash('sha256').update(source.der).digest('base64'));
        }
      }),
      { numRuns: 120, seed: 20261130 },
    );
    assert.ok(valid > 0 && invalid > 0, `valid ${valid}, invalid ${invalid}: the generator must reach both`);
  });

  it('pinrotate pins and pinrotate validate print JSON and exit 0 or 1 for generated chains', async () => {
    await fc.assert(
      fc.asyncProperty(chainArb, async ({ certs, trust }) => {
        const issued = build(certs);
        const chain = join(dir, 'chain.pem');
        const trustFile = join(dir, 'trust.pem');
        writeFileSync(chain, [...issued].reverse().map((c) => c.pem).join(''));
        writeFileSync(trustFile, trust.filter((i) => i < issued.length).map((i) => issued[i].pem).join('') || issued[0].pem);
        for (const [cmd, argv] of [
          [runPins, [chain, '--json']],
          [runValidate, [chain, '--trust', trustFile, '--client', 'client-1', '--at', new Date(NOW).toISOString(), '--json']],
        ] as const) {
          let out = '';
          const io = { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: () => true } };
          const code = await cmd([...argv], io as never);
          assert.ok(code === 0 || code === 1, `exit ${code}`);
          const body = JSON.parse(out) as { certificates?: unknown[]; valid?: boolean; error?: { code: string } };
          if (cmd === runPins) assert.equal(code, 0, out);
          if (code === 1) assert.ok(body.valid === false && isCertificateErrorCode(body.error?.code), out);
        }
      }),
      { numRuns: 25, seed: 7 },
    );
  });
});

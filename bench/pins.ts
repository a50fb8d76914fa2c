/**
 * Certificates per second for the digest matrix (SPKI pin + certificate pin) and for full validation:
 * our module (Node's native X509Certificate for parsing, hashing and signatures; the @peculiar ASN.1 schema,
 * cached per DER, for extensions and algorithms) side by side, in the same run and on the same PEM, with
 * node-forge (pure JavaScript, RSA only) and with one openssl process per certificate. The "new certificate
 * each call" rows never hit that cache. Every number is measured; a row whose output disagrees with ours
 * says so in `agrees`.
 *
 *   node dist/bench/pins.js [--quick] [--json]
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import forge from 'node-forge';
import { describeCertificate } from '../src/pins/digest';
import { parseCertificates } from '../src/pins/pem';
import { validateCertificateChain } from '../src/pins/validate';
import { createFixtures, forgeCert, OPENSSL } from '../test/unit/pins-fixtures';

type Row = Record<string, string | number>;
interface Pins {
  sha256Spki: string;
  sha256Certificate: string;
}

interface Budget {
  ms: number;
  minIterations: number;
}

interface Measured {
  perSecond: number;
  /** Per second of this process's own CPU time: what one core does, however busy the shared machine is. */
  perCpuSecond: number;
  iterations: number;
}

/** Runs `fn` until the time budget is spent (and at least minIterations times); returns ops/s. */
function measure(fn: () => void, budget: Budget): Measured {
  fn(); // warm-up, and fail fast before timing
  let iterations = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budget.ms || iterations < budget.minIterations) {
    fn();
    iterations++;
    elapsed = performance.now() - start;
  }
  return { perSecond: (iterations * 1000) / elapsed, perCpuSecond: perCpuSecond(iterations, cpu), iterations };
}

function perCpuSecond(iterations: number, since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (iterations * 1e6) / Math.max(1, used.user + used.system);
}

function oursDigest(pem: string): Pins {
  const info = describeCertificate(parseCertificates(pem)[0]);
  return { sha256Spki: info.sha256Spki, sha256Certificate: info.sha256Certificate };
}

/** node-forge: parse the PEM, SHA-256 over forge's DER of the SubjectPublicKeyInfo and of the certificate. */
function forgeDigest(pem: string): Pins {
  const cert = forge.pki.certificateFromPem(pem);
  const spkiDer = forge.asn1.toDer(forge.pki.publicKeyToAsn1(cert.publicKey)).getBytes();
  const certDer = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  const b64 = (bytes: string): string => forge.util.encode64(forge.md.sha256.create().update(bytes).digest().getBytes());
  return { sha256Spki: b64(spkiDer), sha256Certificate: b64(certDer) };
}

/** node-forge validation: parse, verify the signature with the CA, check the validity window. */
function forgeValidate(pem: string, ca: forge.pki.Certificate, at: Date): boolean {
  const cert = forge.pki.certificateFromPem(pem);
  return ca.verify(cert) && cert.validity.notBefore <= at && at <= cert.validity.notAfter;
}

/** One openssl process per certificate: fingerprint (certificate pin) and public key (SPKI pin). */
function opensslDigest(openssl: string, pem: string): Pins {
  const out = execFileSync(openssl, ['x509', '-noout', '-fingerprint', '-sha256', '-pubkey'], { input: pem }).toString();
  const hex = /Fingerprint=([0-9A-F:]+)/i.exec(out)?.[1].replace(/:/g, '') ?? '';
  const spkiB64 = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(out)?.[1].replace(/\s/g, '') ?? '';
  return {
    sha256Spki: createHash('sha256').update(Buffer.from(spkiB64, 'base64')).digest('base64'),
    sha256Certificate: Buffer.from(hex, 'hex').toString('base64'),
  };
}

/** One `openssl verify` process per certificate (signature path, validity, sslclient purpose). */
function opensslValidate(openssl: string, caFile: string, leafFile: string): boolean {
  try {
    execFileSync(openssl, ['verify', '-CAfile', caFile, '-purpose', 'sslclient', leafFile], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const samePins = (a: Pins, b: Pins): boolean => a.sha256Spki === b.sha256Spki && a.sha256Certificate === b.sha256Certificate;

export async function runPinsBench(opts: { quick: boolean }): Promise<Row[]> {
  const inProcess: Budget = opts.quick ? { ms: 150, minIterations: 20 } : { ms: 1500, minIterations: 200 };
  const perProcess: Budget = opts.quick ? { ms: 150, minIterations: 5 } : { ms: 1500, minIterations: 30 };
  const fx = await createFixtures();
  try {
    const leaves: Array<[string, string]> = [['rsa2048', fx.leafRsa]];
    if (fx.openssl) leaves.push(['ec-p256', fx.openssl.leafEc], ['ed25519', fx.openssl.leafEd25519]);
    const caFile = fx.write('bench-ca.pem', fx.ca.certPem);
    const forgeCa = forge.pki.certificateFromPem(fx.ca.certPem);
    const rows: Row[] = [];
    // certsPerCpuSec only for in-process rows: openssl's work happens in child processes.
    const row = (operation: string, keyType: string, implementation: string, result: Measured | string, agrees: string, inProcessRow = true): void => {
      rows.push(
        typeof result === 'string'
          ? { operation, keyType, implementation, certsPerSec: 0, certsPerCpuSec: 0, iterations: 0, agrees: result }
          : {
              operation, keyType, implementation, certsPerSec: Math.round(result.perSecond),
              certsPerCpuSec: inProcessRow ? Math.round(result.perCpuSecond) : '', iterations: result.iterations, agrees,
            },
      );
    };

    for (const [keyType, pem] of leaves) {
      const expected = oursDigest(pem);
      row('digest', keyType, 'ours (same PEM each call)', measure(() => oursDigest(pem), inProcess), 'reference');
      try {
        const agrees = samePins(forgeDigest(pem), expected) ? 'yes' : 'NO';
        row('digest', keyType, 'node-forge', measure(() => forgeDigest(pem), inProcess), agrees);
      } catch (err) {
        row('digest', keyType, 'node-forge', `unsupported: ${(err as Error).message.slice(0, 40)}`, '');
      }
      if (OPENSSL) {
        const openssl = OPENSSL;
        const agrees = samePins(opensslDigest(openssl, pem), expected) ? 'yes' : 'NO';
        row('digest', keyType, 'openssl (1 process/cert)', measure(() => opensslDigest(openssl, pem), perProcess), agrees, false);
      }
    }

    for (const [keyType, pem] of leaves) {
      const validate = () => validateCertificateChain(pem, { trustPem: fx.ca.certPem, at: fx.now });
      const ok = validate().valid;
      row('validate', keyType, 'ours (§5 path validation, same PEM)', measure(validate, inProcess), ok ? 'valid' : 'INVALID');
      try {
        const forgeOk = forgeValidate(pem, forgeCa, fx.now);
        row('validate', keyType, 'node-forge (sig+dates)', measure(() => forgeValidate(pem, forgeCa, fx.now), inProcess), forgeOk === ok ? 'yes' : 'NO');
      } catch (err) {
        row('validate', keyType, 'node-forge (sig+dates)', `unsupported: ${(err as Error).message.slice(0, 40)}`, '');
      }
      if (OPENSSL) {
        const openssl = OPENSSL;
        const leafFile = fx.write(`bench-${keyType}.pem`, pem);
        const opensslOk = opensslValidate(openssl, caFile, leafFile);
        row('validate', keyType, 'openssl verify (1 process/cert)', measure(() => opensslValidate(openssl, caFile, leafFile), perProcess), opensslOk === ok ? 'yes' : 'NO', false);
      }
    }

    // The rows above see the same PEM again and again, so the ASN.1 library's reading of it comes from
    // the per-DER cache. Here every call meets a certificate it has never seen (what a rotation meets).
    const freshCount = opts.quick ? 60 : 1200;
    const leafKey = new X509Certificate(fx.leafRsa).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const freshLeaves = (prefix: string): string[] =>
      Array.from({ length: freshCount }, (_, i) =>
        forgeCert({
          cn: `${prefix}-${i}`, publicPem: leafKey, issuer: fx.ca,
          notBefore: new Date(fx.now.getTime() - 86_400_000), notAfter: new Date(fx.now.getTime() + 90 * 86_400_000),
        }),
      );
    const firstSight: Array<[string, (pem: string) => boolean]> = [
      ['digest', (pem) => oursDigest(pem).sha256Spki.length === 44],
      ['validate', (pem) => validateCertificateChain(pem, { trustPem: fx.ca.certPem, at: fx.now }).valid],
    ];
    for (const [operation, fn] of firstSight) {
      const pems = freshLeaves(`fresh-${operation}`);
      let ok = true;
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (const pem of pems) ok = fn(pem) && ok;
      const perSecond = (pems.length * 1000) / (performance.now() - start);
      const measured = { perSecond, perCpuSecond: perCpuSecond(pems.length, cpu), iterations: pems.length };
      row(operation, 'rsa2048', 'ours, a new certificate each call', measured, ok ? 'valid' : 'INVALID');
    }
    return rows;
  } finally {
    fx.cleanup();
  }
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '(no rows)\n';
  const columns = Object.keys(rows[0]);
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? v.toLocaleString('en-US') : (v ?? ''));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: Array<string | number | undefined>): string =>
    values
      .map((v, i) => (typeof v === 'number' ? cell(v).padStart(widths[i]) : cell(v).padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(columns.map((c) => r[c])))].join('\n') + '\n';
}

if (require.main === module) {
  const args = process.argv.slice(2);
  runPinsBench({ quick: args.includes('--quick') }).then(
    (rows) => {
      process.stdout.write(args.includes('--json') ? `${JSON.stringify(rows)}\n` : formatTable(rows));
      if (!OPENSSL) process.stdout.write('openssl not found: openssl rows skipped\n');
    },
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

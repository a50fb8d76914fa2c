/**
 * Certificate fixtures for the pins tests, generated at test time into a temporary directory (no key is
 * ever committed). RSA certificates are issued with node-forge (keys from Node's native generator), so
 * most tests run without openssl; EC, Ed25519 and weak-curve certificates need the openssl binary.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPair, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

const DAY = 86_400_000;

/** The openssl binary, if any. PINS_TEST_NO_OPENSSL=1 pretends there is none, to exercise the skips. */
export function findOpenssl(): string | undefined {
  if (process.env.PINS_TEST_NO_OPENSSL === '1') return undefined;
  for (const candidate of [process.env.OPENSSL_BIN, '/usr/bin/openssl', '/usr/local/bin/openssl', '/opt/homebrew/bin/openssl']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return 'openssl';
  } catch {
    return undefined;
  }
}

export const OPENSSL = findOpenssl();
export const NO_OPENSSL = OPENSSL ? false : 'openssl binary not found; openssl-dependent checks skipped';

export interface Issuer {
  cn: string;
  certPem: string;
  /** PKCS#1 PEM of the issuer's RSA key (stays in the temp dir and in memory only). */
  keyPem: string;
}

interface RsaKey {
  privatePem: string;
  publicPem: string;
}

/** Native key generation on the libuv pool, so a few keys are made in parallel. */
async function rsaKey(bits: number): Promise<RsaKey> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: bits });
  return {
    privatePem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

let serialCounter = 1;

export interface ForgeCertOptions {
  cn: string;
  publicPem: string;
  /** Undefined: self-signed with `selfKeyPem`. */
  issuer?: Issuer;
  selfKeyPem?: string;
  notBefore: Date;
  notAfter: Date;
  ca?: boolean;
  /** null: no extended key usage extension at all. */
  eku?: { clientAuth?: boolean; serverAuth?: boolean } | null;
}

/** forge has getTBSCertificate, but @types/node-forge does not declare it. */
interface ForgeTbs {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
}

/** Issues an RSA certificate with forge (the public key must be RSA); returns LF-terminated PEM. */
export function forgeCert(o: ForgeCertOptions): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(o.publicPem);
  cert.serialNumber = `01${(serialCounter++).toString(16).padStart(6, '0')}${randomBytes(4).toString('hex')}`;
  cert.validity.notBefore = o.notBefore;
  cert.validity.notAfter = o.notAfter;
  cert.setSubject([
    { name: 'commonName', value: o.cn },
    { name: 'organizationName', value: 'Pin Rotation Tests' },
  ]);
  if (o.issuer) {
    const issuerCert = forge.pki.certificateFromPem(o.issuer.certPem);
    cert.setIssuer(issuerCert.subject.attributes);
  } else {
    cert.setIssuer(cert.subject.attributes);
  }
  const extensions: object[] = [
    { name: 'basicConstraints', cA: o.ca === true, critical: true },
    o.ca
      ? // A CA that also claims clientAuth (the CA-leaf case) can sign a handshake too: only its cA flag is wrong.
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: o.eku?.clientAuth === true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  const eku = o.eku === undefined ? (o.ca ? null : { clientAuth: true }) : o.eku;
  if (eku !== null) extensions.push({ name: 'extKeyUsage', ...eku });
  cert.setExtensions(extensions);
  const signingPem = o.issuer ? o.issuer.keyPem : o.selfKeyPem;
  if (!signingPem) throw new Error('forgeCert: no signing key');
  // What forge's cert.sign() does, with Node's native RSA instead of forge's (about 30x faster).
  cert.md = forge.md.sha256.create();
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.tbsCertificate = (forge.pki as unknown as ForgeTbs).getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbs, signingPem).toString('binary');
  // forge writes CRLF; fixtures use LF so tests can add CRLF (or not) on purpose.
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

function rsaCa(cn: string, now: number, key: RsaKey, issuer?: Issuer): Issuer {
  const certPem = forgeCert({
    cn,
    publicPem: key.publicPem,
    issuer,
    selfKeyPem: key.privatePem,
    notBefore: new Date(now - 10 * DAY),
    notAfter: new Date(now + 3650 * DAY),
    ca: true,
  });
  return { cn, certPem, keyPem: key.privatePem };
}

export interface OpensslFixtures {
  leafEc: string;
  leafEd25519: string;
  weakEc: string;
  weakEcCurve: string;
  csr: string;
  /** root (RSA) → EC P-384 intermediate → Ed25519 leaf, leaf first, root not included. */
  mixedChain: string;
  mixedIntermediateCn: string;
  /** Ed25519 root CA and an EC leaf it issued. */
  ed25519Ca: string;
  leafByEd25519Ca: string;
}

export interface Fixtures {
  dir: string;
  /** "Now" the fixtures were made for; pass it as `at` so tests never race the clock. */
  now: Date;
  ca: Issuer;
  /** Another CA named GenesysCloudArchitectureCA, with a different key: the forger. */
  forgerCa: Issuer;
  otherCa: Issuer;
  intermediate: Issuer;
  notCaIntermediate: Issuer;
  leafRsa: string;
  leafRsaKeyPem: string;
  expired: string;
  notYetValid: string;
  tooSoon: string;
  caLeaf: string;
  noEku: string;
  serverAuthOnly: string;
  weakRsa: string;
  wrongIssuer: string;
  forged: string;
  leafViaIntermediate: string;
  leafViaNotCa: string;
  csr: string;
  privateKeys: Record<'pkcs1' | 'pkcs8' | 'encrypted' | 'sec1' | 'openssh', string>;
  openssl?: OpensslFixtures;
  /** Writes text into the fixture directory and returns the path. */
  write(name: string, content: string | Uint8Array): string;
  cleanup(): void;
}

function openssl(args: string[], input?: string): string {
  if (!OPENSSL) throw new Error('openssl is not available');
  return execFileSync(OPENSSL, args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}

/** Issues a certificate with openssl: new key `keyArgs`, CSR, then `x509 -req` by the given issuer. */
function opensslIssue(
  dir: string,
  name: string,
  keyArgs: string[],
  subject: string,
  issuer: { certPath: string; keyPath: string },
  ext: string,
): { certPem: string; certPath: string; keyPath: string } {
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const certPath = join(dir, `${name}.pem`);
  const extPath = join(dir, `${name}.ext`);
  writeFileSync(extPath, ext);
  openssl(['genpkey', ...keyArgs, '-out', keyPath]);
  openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-out', csrPath]);
  openssl([
    'x509', '-req', '-in', csrPath, '-CA', issuer.certPath, '-CAkey', issuer.keyPath,
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '90', '-extfile', extPath, '-out', certPath,
  ]);
  return { certPem: openssl(['x509', '-in', certPath]), certPath, keyPath };
}

const LEAF_EXT = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';
const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';

function makeOpensslFixtures(dir: string, ca: Issuer, write: (n: string, c: string) => string): OpensslFixtures {
  const root = { certPath: write('ca.pem', ca.certPem), keyPath: write('ca.key', ca.keyPem) };
  const leafEc = opensslIssue(dir, 'leaf-ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=leaf-ec/O=Pin Rotation Tests', root, LEAF_EXT);
  const leafEd = opensslIssue(dir, 'leaf-ed25519', ['-algorithm', 'ED25519'], '/CN=leaf-ed25519', root, LEAF_EXT);
  let weakEcCurve = 'P-192';
  let weakEc: string;
  try {
    weakEc = opensslIssue(dir, 'weak-ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-192'], '/CN=weak-ec', root, LEAF_EXT).certPem;
  } catch {
    weakEcCurve = 'secp224r1';
    weakEc = opensslIssue(dir, 'weak-ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp224r1'], '/CN=weak-ec', root, LEAF_EXT).certPem;
  }
  const csr = openssl(['req', '-in', join(dir, 'leaf-ec.csr')]);
  const mixedIntermediateCn = 'Pin Tests EC Intermediate';
  const inter = opensslIssue(dir, 'inter-ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], `/CN=${mixedIntermediateCn}`, root, CA_EXT);
  const viaInter = opensslIssue(dir, 'leaf-via-ec', ['-algorithm', 'ED25519'], '/CN=leaf-via-ec-intermediate', inter, LEAF_EXT);
  const edCaKey = join(dir, 'ed-ca.key');
  const edCaCert = join(dir, 'ed-ca.pem');
  openssl(['genpkey', '-algorithm', 'ED25519', '-out', edCaKey]);
  openssl([
    'req', '-x509', '-new', '-key', edCaKey, '-subj', '/CN=Pin Tests Ed25519 Root', '-days', '365', '-out', edCaCert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const byEd = opensslIssue(dir, 'leaf-by-ed', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=leaf-by-ed25519-ca', { certPath: edCaCert, keyPath: edCaKey }, LEAF_EXT);
  return {
    leafEc: leafEc.certPem,
    leafEd25519: leafEd.certPem,
    weakEc,
    weakEcCurve,
    csr,
    mixedChain: viaInter.certPem + inter.certPem,
    mixedIntermediateCn,
    ed25519Ca: openssl(['x509', '-in', edCaCert]),
    leafByEd25519Ca: byEd.certPem,
  };
}

/** Builds every fixture; about a second on two cores. Call once per test file in `before`. */
export async function createFixtures(): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'pins-test-'));
  const write = (name: string, content: string | Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const nowMs = Math.floor(Date.now() / 1000) * 1000;
  const now = new Date(nowMs);
  // RSA key generation dominates the cost: three 2048-bit keys serve every certificate. `altKey` is
  // the forger's, and also signs for the other CAs, which never meet the forger in one test.
  const [caKey, altKey, leafKey, weakKey] = await Promise.all([rsaKey(2048), rsaKey(2048), rsaKey(2048), rsaKey(1024)]);
  const ca = rsaCa('GenesysCloudArchitectureCA', nowMs, caKey);
  const forgerCa = rsaCa('GenesysCloudArchitectureCA', nowMs, altKey);
  const otherCa = rsaCa('Some Other CA', nowMs, altKey);
  const intermediate = rsaCa('Pin Tests Intermediate CA', nowMs, altKey, ca);
  const notCaKey = altKey;
  const notCaIntermediate: Issuer = {
    cn: 'Pin Tests Not A CA',
    keyPem: notCaKey.privatePem,
    certPem: forgeCert({
      cn: 'Pin Tests Not A CA', publicPem: notCaKey.publicPem, issuer: ca,
      notBefore: new Date(nowMs - DAY), notAfter: new Date(nowMs + 365 * DAY), ca: false,
    }),
  };

  const leaf = (o: Partial<ForgeCertOptions> & { cn: string }): string =>
    forgeCert({
      publicPem: leafKey.publicPem,
      issuer: ca,
      notBefore: new Date(nowMs - DAY),
      notAfter: new Date(nowMs + 90 * DAY),
      ...o,
    });

  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pkcs8Key = createPrivateKey(leafKey.privatePem);

  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(leafKey.publicPem);
  csr.setSubject([{ name: 'commonName', value: 'csr-only' }]);
  csr.sign(forge.pki.privateKeyFromPem(leafKey.privatePem), forge.md.sha256.create());

  const fixtures: Fixtures = {
    dir,
    now,
    ca,
    forgerCa,
    otherCa,
    intermediate,
    notCaIntermediate,
    leafRsa: leaf({ cn: 'leaf-rsa' }),
    leafRsaKeyPem: leafKey.privatePem,
    expired: leaf({ cn: 'expired', notBefore: new Date(nowMs - 100 * DAY), notAfter: new Date(nowMs - DAY) }),
    notYetValid: leaf({ cn: 'not-yet-valid', notBefore: new Date(nowMs + DAY), notAfter: new Date(nowMs + 90 * DAY) }),
    tooSoon: leaf({ cn: 'too-soon', notAfter: new Date(nowMs + 2 * DAY) }),
    caLeaf: leaf({ cn: 'ca-leaf', ca: true, eku: { clientAuth: true } }),
    noEku: leaf({ cn: 'no-eku', eku: null }),
    serverAuthOnly: leaf({ cn: 'server-auth-only', eku: { serverAuth: true } }),
    weakRsa: leaf({ cn: 'weak-rsa', publicPem: weakKey.publicPem }),
    wrongIssuer: leaf({ cn: 'wrong-issuer', issuer: otherCa }),
    forged: leaf({ cn: 'forged', issuer: forgerCa }),
    leafViaIntermediate: leaf({ cn: 'leaf-via-intermediate', issuer: intermediate }),
    leafViaNotCa: leaf({ cn: 'leaf-via-not-ca', issuer: notCaIntermediate }),
    csr: forge.pki.certificationRequestToPem(csr).replace(/\r\n/g, '\n'),
    privateKeys: {
      pkcs1: leafKey.privatePem,
      pkcs8: pkcs8Key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      encrypted: pkcs8Key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'not-a-secret' }).toString(),
      sec1: ecKey.privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
      // OpenSSH framing only: Node cannot write the format, and the framing is what is refused.
      openssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(300).toString('base64').replace(/(.{70})/g, '$1\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    },
    write,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  if (OPENSSL) fixtures.openssl = makeOpensslFixtures(dir, ca, (n, c) => write(n, c));
  // openssl starts validity at the moment of issuing: judge everything a little after that.
  fixtures.now = new Date(Math.max(Date.now(), nowMs) + 2000);
  return fixtures;
}

/** The RFC 7469 pin and the certificate digest as openssl computes them (the DESIGN.md recipe). */
export function opensslPins(certPem: string): { sha256Spki: string; sha256Certificate: string } {
  if (!OPENSSL) throw new Error('openssl is not available');
  const sh = (script: string): string =>
    execFileSync('sh', ['-c', script], { input: certPem, env: { ...process.env, OPENSSL: OPENSSL } }).toString().trim();
  return {
    sha256Spki: sh('"$OPENSSL" x509 -pubkey -noout | "$OPENSSL" pkey -pubin -outform der | "$OPENSSL" dgst -sha256 -binary | base64'),
    sha256Certificate: sh('"$OPENSSL" x509 -outform der | "$OPENSSL" dgst -sha256 -binary | base64'),
  };
}

/** Base64 body lines of every key in `pems`, to assert none of them reaches an output. */
export function keyMaterialLines(pems: string[]): string[] {
  return pems.flatMap((pem) => pem.split(/\r?\n/).filter((l) => l.length >= 16 && !l.startsWith('-----')));
}

/**
 * Builds X.509 certificates field by field with the @peculiar ASN.1 schema and signs them with Node's
 * crypto, so a test can make a chain that differs from an accepted one by exactly one defect (a pathLen,
 * a cA flag, a SHA-1 signature, an unknown critical extension, explicit curve parameters, an empty
 * subject …), which neither node-forge nor plain openssl options reach all of. Keys stay in memory.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { OPENSSL } from './pins-fixtures';

export const DAY = 86_400_000;
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EMAIL_PROTECTION = '1.3.6.1.5.5.7.3.4';
export const ANY_EKU = '2.5.29.37.0';
export const KU = { digitalSignature: 1, keyEncipherment: 4, keyCertSign: 32, cRLSign: 64 } as const;

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER to put in certificates (explicit-parameter keys override Node's export). */
  spki: Buffer;
}

export function ecKey(namedCurve = 'P-256'): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
  return { privateKey, publicKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

export function rsaKey(modulusLength: number): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  return { privateKey, publicKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

export function dsaKey(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 });
  return { privateKey, publicKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

export function ed25519Key(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

/** The same P-256 key, its SPKI re-encoded by openssl with explicit (unnamed) curve parameters. */
export function withExplicitCurve(key: KeyPair): KeyPair {
  if (!OPENSSL) throw new Error('openssl is not available');
  const pem = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const spki = execFileSync(OPENSSL, ['ec', '-pubin', '-param_enc', 'explicit', '-outform', 'DER'], { input: pem, stdio: ['pipe', 'pipe', 'ignore'] });
  return { ...key, spki };
}

export type Hash = 'sha256' | 'sha384' | 'sha1' | 'md5';

const SIG_OIDS: Record<string, Partial<Record<Hash, string>>> = {
  rsa: { sha256: '1.2.840.113549.1.1.11', sha384: '1.2.840.113549.1.1.12', sha1: '1.2.840.113549.1.1.5', md5: '1.2.840.113549.1.1.4' },
  ec: { sha256: '1.2.840.10045.4.3.2', sha384: '1.2.840.10045.4.3.3', sha1: '1.2.840.10045.4.1' },
  dsa: { sha256: '2.16.840.1.101.3.4.3.2', sha1: '1.2.840.10040.4.3' },
};

function signatureAlgorithm(key: KeyObject, hash: Hash): AlgorithmIdentifier {
  const type = key.asymmetricKeyType ?? '';
  if (type === 'ed25519') return new AlgorithmIdentifier({ algorithm: '1.3.101.112' });
  const oid = SIG_OIDS[type]?.[hash];
  if (!oid) throw new Error(`no ${hash} signature for ${type} keys`);
  // RSA PKCS#1 v1.5 carries NULL parameters; ECDSA and DSA carry none.
  return new AlgorithmIdentifier({ algorithm: oid, parameters: type === 'rsa' ? new Uint8Array([5, 0]).buffer : undefined });
}

export interface Issued {
  pem: string;
  der: Buffer;
  /** Name and key to issue with. */
  name: Name;
  key: KeyPair;
  keyId: Buffer;
}

export interface CertSpec {
  /** CN of the subject; null: an empty subject. */
  cn: string | null;
  key: KeyPair;
  /** Undefined: self-signed. */
  issuer?: Issued;
  notBefore?: Date;
  notAfter?: Date;
  /** Undefined: no basicConstraints. */
  ca?: boolean;
  pathLen?: number;
  /** Undefined: no keyUsage. */
  keyUsage?: number;
  eku?: string[];
  san?: { dns?: string[]; uri?: string[]; email?: string[] };
  extra?: Array<{ oid: string; critical: boolean }>;
  hash?: Hash;
  version?: 1 | 3;
  /** Overrides the outer signatureAlgorithm only (a mismatch with the signed one). */
  outerHash?: Hash;
  /** Subject name given as full attributes (for a same-named copy). */
  name?: Name;
}

export function nameOf(cn: string | null, org = 'Pin Chain Tests'): Name {
  if (cn === null) return new Name([]);
  const atv = (type: string, value: string) =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
  return new Name([atv('2.5.4.10', org), atv('2.5.4.3', cn)]);
}

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

let serial = 1;

export function issue(spec: CertSpec, now: number): Issued {
  const name = spec.name ?? nameOf(spec.cn);
  const keyId = createHash('sha1').update(spec.key.spki).digest();
  const signer = spec.issuer ?? { name, key: spec.key, keyId };
  const hash = spec.hash ?? 'sha256';
  const extensions: Extension[] = [];
  if (spec.ca !== undefined) extensions.push(ext('2.5.29.19', true, new BasicConstraints({ cA: spec.ca, pathLenConstraint: spec.pathLen })));
  if (spec.keyUsage !== undefined) extensions.push(ext('2.5.29.15', true, new KeyUsage(spec.keyUsage)));
  if (spec.eku) extensions.push(ext('2.5.29.37', false, new ExtendedKeyUsage(spec.eku)));
  extensions.push(ext('2.5.29.14', false, new SubjectKeyIdentifier(keyId)));
  if (spec.issuer) extensions.push(ext('2.5.29.35', false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(spec.issuer.keyId) })));
  if (spec.san) {
    const names = [
      ...(spec.san.dns ?? []).map((dNSName) => new GeneralName({ dNSName })),
      ...(spec.san.uri ?? []).map((uniformResourceIdentifier) => new GeneralName({ uniformResourceIdentifier })),
      ...(spec.san.email ?? []).map((rfc822Name) => new GeneralName({ rfc822Name })),
    ];
    // RFC 5280 §4.2.1.6: critical when the subject is empty.
    extensions.push(ext('2.5.29.17', spec.cn === null, new SubjectAlternativeName(names)));
  }
  for (const e of spec.extra ?? []) {
    extensions.push(new Extension({ extnID: e.oid, critical: e.critical, extnValue: new OctetString(new Uint8Array([5, 0])) }));
  }
  const v1 = spec.version === 1;
  const sigAlg = signatureAlgorithm(signer.key.privateKey, hash);
  const tbs = new TBSCertificate({
    version: v1 ? Version.v1 : Version.v3,
    serialNumber: new Uint8Array([0x01, ...randomBytes(7), serial++ & 0xff]).buffer,
    signature: sigAlg,
    issuer: signer.name,
    validity: new Validity({ notBefore: spec.notBefore ?? new Date(now - DAY), notAfter: spec.notAfter ?? new Date(now + 90 * DAY) }),
    subject: name,
    subjectPublicKeyInfo: AsnConvert.parse(spec.key.spki, SubjectPublicKeyInfo),
    extensions: v1 ? undefined : new Extensions(extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const type = signer.key.privateKey.asymmetricKeyType;
  const signature = sign(type === 'ed25519' ? null : hash, tbsDer, signer.key.privateKey);
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: spec.outerHash ? signatureAlgorithm(signer.key.privateKey, spec.outerHash) : sigAlg,
    signatureValue: new Uint8Array(signature).buffer,
  });
  const der = Buffer.from(AsnConvert.serialize(cert));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return { pem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, der, name, key: spec.key, keyId };
}

export const CA_USAGE = KU.keyCertSign | KU.cRLSign;

/** The accepted shape: a CA spec and a leaf spec, for tests to alter one field at a time. */
export function caSpec(cn: string, key: KeyPair, issuer?: Issued): CertSpec {
  return { cn, key, issuer, ca: true, keyUsage: CA_USAGE };
}

export function leafSpec(cn: string, key: KeyPair, issuer: Issued): CertSpec {
  return { cn, key, issuer, ca: false, keyUsage: KU.digitalSignature, eku: [CLIENT_AUTH] };
}

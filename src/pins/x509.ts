/**
 * What RFC 5280 path validation needs and Node's X509Certificate does not expose, read with the PKI.js /
 * @peculiar ASN.1 schema (asn1js underneath): the extension list with critical flags, basicConstraints with
 * pathLenConstraint, keyUsage, the EKU of every certificate, signature and key algorithms with their
 * parameters, names for chaining, SAN and CN for identity, and the SubjectPublicKeyInfo exactly as encoded.
 * Parsing is costly next to Node's native parser, so results are cached per DER (bounded).
 */
import { AsnParser, AsnConvert } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  BasicConstraints,
  ExtendedKeyUsage,
  Extensions,
  KeyUsage,
  Name,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import { ECParameters } from '@peculiar/asn1-ecc';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import * as asn1js from 'asn1js';
import type { X509Certificate } from 'node:crypto';

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  commonName: '2.5.4.3',
  ecPublicKey: '1.2.840.10045.2.1',
  rsassaPss: '1.2.840.113549.1.1.10',
} as const;

/**
 * Extensions this validator understands, or whose content cannot make a client path invalid here
 * (certificatePolicies: no initial policy set, no explicit policy required). A critical extension not
 * listed (nameConstraints, policyConstraints, policyMappings, inhibitAnyPolicy, CT poison, private ones)
 * is refused, as RFC 5280 §4.2 asks of a validator that does not process it.
 */
const RECOGNISED_EXTENSIONS = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  '2.5.29.18', // issuerAltName
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.46', // freshestCRL
  '2.5.29.32', // certificatePolicies
  '2.5.29.9', // subjectDirectoryAttributes
  '1.3.6.1.5.5.7.1.1', // authorityInfoAccess
  '1.3.6.1.5.5.7.1.11', // subjectInfoAccess
  '1.3.6.1.4.1.11129.2.4.2', // embedded SCT list
]);

const EXTENSION_NAMES: Record<string, string> = {
  '2.5.29.30': 'nameConstraints',
  '2.5.29.36': 'policyConstraints',
  '2.5.29.33': 'policyMappings',
  '2.5.29.54': 'inhibitAnyPolicy',
  '1.3.6.1.4.1.11129.2.4.3': 'CT precertificate poison',
  [OID.basicConstraints]: 'basicConstraints',
  [OID.keyUsage]: 'keyUsage',
  [OID.extKeyUsage]: 'extKeyUsage',
  [OID.subjectAltName]: 'subjectAltName',
  [OID.subjectKeyIdentifier]: 'subjectKeyIdentifier',
  [OID.authorityKeyIdentifier]: 'authorityKeyIdentifier',
};

export function extensionName(oid: string): string {
  const name = EXTENSION_NAMES[oid];
  return name ? `${name} (${oid})` : oid;
}

/** Hash of each signature algorithm; RSASSA-PSS reads it from the parameters. */
const SIGNATURE_HASH: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'MD2',
  '1.2.840.113549.1.1.3': 'MD4',
  '1.2.840.113549.1.1.4': 'MD5',
  '1.2.840.113549.1.1.5': 'SHA-1',
  '1.3.14.3.2.29': 'SHA-1',
  '1.2.840.113549.1.1.14': 'SHA-224',
  '1.2.840.113549.1.1.11': 'SHA-256',
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
  '1.2.840.10045.4.1': 'SHA-1',
  '1.2.840.10045.4.3.1': 'SHA-224',
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
  '1.2.840.10040.4.3': 'SHA-1',
  '2.16.840.1.101.3.4.3.1': 'SHA-224',
  '2.16.840.1.101.3.4.3.2': 'SHA-256',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

const HASH_OIDS: Record<string, string> = {
  '1.2.840.113549.2.2': 'MD2',
  '1.2.840.113549.2.5': 'MD5',
  '1.3.14.3.2.26': 'SHA-1',
  '2.16.840.1.101.3.4.2.4': 'SHA-224',
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

export interface CertificateFacts {
  /** 1, 2 or 3. */
  version: number;
  /** The SubjectPublicKeyInfo bytes as they appear in the certificate (what RFC 7469 hashes). */
  spkiDer: Buffer;
  /** Names in a comparable form (RFC 5280 §7.1: case and inner spaces of strings do not matter). */
  subjectKey: string;
  issuerKey: string;
  subjectEmpty: boolean;
  selfIssued: boolean;
  /** undefined: no basicConstraints extension. */
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** KeyUsage bit flags (digitalSignature = 1 … keyCertSign = 32); undefined when absent. */
  keyUsage?: number;
  /** Extended key usage OIDs; undefined when absent. */
  eku?: string[];
  /** Critical extensions this validator does not process. */
  unknownCritical: string[];
  /** Structural problems RFC 5280 forbids (a repeated extension, an undecodable one). */
  malformed: string[];
  /** Hash of the certificate's own signature (SHA-256, SHA-1, …), or the raw OID when unknown. */
  signatureHash: string;
  /** tbsCertificate.signature differs from Certificate.signatureAlgorithm (RFC 5280 §4.1.1.2). */
  signatureAlgorithmMismatch: boolean;
  /** EC key given by explicit (unnamed) curve parameters, which RFC 5480 forbids. */
  explicitCurve: boolean;
  subjectKeyId?: string;
  authorityKeyId?: string;
  commonNames: string[];
  dnsNames: string[];
  emails: string[];
  uris: string[];
}

function hex(data: ArrayBuffer | ArrayBufferView): string {
  const view = ArrayBuffer.isView(data) ? data : new Uint8Array(data);
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('hex');
}

/** RFC 5280 §7.1 / RFC 4518 in short: compare strings case-insensitively with inner white space collapsed. */
function canonicalValue(value: { toString(): string; anyValue?: ArrayBuffer }): string {
  if (value.anyValue) return `#${hex(value.anyValue)}`;
  return value.toString().normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

function nameKey(name: Name): string {
  return name
    .map((rdn) =>
      rdn
        .map((atv) => `${atv.type}=${canonicalValue(atv.value)}`)
        .sort()
        .join('+'),
    )
    .join('/');
}

function namesOf(name: Name, oid: string): string[] {
  const out: string[] = [];
  for (const rdn of name) for (const atv of rdn) if (atv.type === oid) out.push(atv.value.toString());
  return out;
}

function signatureHash(algorithm: string, parameters: ArrayBuffer | null | undefined): string {
  if (algorithm === OID.rsassaPss) {
    // RFC 4055: absent hashAlgorithm means SHA-1.
    if (!parameters) return 'SHA-1';
    const params = AsnConvert.parse(parameters, RsaSaPssParams);
    return HASH_OIDS[params.hashAlgorithm.algorithm] ?? params.hashAlgorithm.algorithm;
  }
  return SIGNATURE_HASH[algorithm] ?? algorithm;
}

/** Throws when the library cannot read the certificate; callers turn that into an answer. */
function readFacts(der: Buffer): CertificateFacts {
  const ber = asn1js.fromBER(der);
  if (ber.offset === -1) throw new Error(`ASN.1: ${ber.result.error}`);
  // Each field is mapped to its schema on its own: mapping the whole Certificate costs about twice as much
  // (the schema is compared again for every field), and serial, validity and signature are Node's job.
  const [tbsBlock, outerAlgorithm] = (ber.result as asn1js.Sequence).valueBlock.value as asn1js.Sequence[];
  const fields = tbsBlock.valueBlock.value as asn1js.Constructed[];
  const tagged = (n: number) => fields.find((f) => f.idBlock.tagClass === 3 && f.idBlock.tagNumber === n);
  const versionBlock = tagged(0);
  const at = versionBlock ? 1 : 0;
  if (fields.length < at + 6) throw new Error('tbsCertificate has too few fields');
  const version = versionBlock ? (versionBlock.valueBlock.value[0] as asn1js.Integer).valueBlock.valueDec : 0;
  const signatureAlgorithm = AsnParser.fromASN(outerAlgorithm, AlgorithmIdentifier);
  const tbs = {
    signature: AsnParser.fromASN(fields[at + 1], AlgorithmIdentifier),
    issuer: AsnParser.fromASN(fields[at + 2], Name),
    subject: AsnParser.fromASN(fields[at + 4], Name),
    subjectPublicKeyInfo: AsnParser.fromASN(fields[at + 5], SubjectPublicKeyInfo),
    extensions: tagged(3) ? AsnParser.fromASN(tagged(3)!.valueBlock.value[0], Extensions) : undefined,
  };
  const spkiDer = Buffer.from(fields[at + 5].valueBeforeDecodeView);
  const cert = { signatureAlgorithm };

  const facts: CertificateFacts = {
    version: version + 1,
    spkiDer,
    subjectKey: nameKey(tbs.subject),
    issuerKey: nameKey(tbs.issuer),
    subjectEmpty: tbs.subject.length === 0,
    selfIssued: false,
    unknownCritical: [],
    malformed: [],
    signatureHash: signatureHash(cert.signatureAlgorithm.algorithm, cert.signatureAlgorithm.parameters),
    signatureAlgorithmMismatch: !tbs.signature.isEqual(cert.signatureAlgorithm),
    explicitCurve: false,
    commonNames: namesOf(tbs.subject, OID.commonName),
    dnsNames: [],
    emails: [],
    uris: [],
  };
  facts.selfIssued = facts.subjectKey === facts.issuerKey && !facts.subjectEmpty;

  const keyAlgorithm = tbs.subjectPublicKeyInfo.algorithm;
  if (keyAlgorithm.algorithm === OID.ecPublicKey) {
    const params = keyAlgorithm.parameters ? AsnConvert.parse(keyAlgorithm.parameters, ECParameters) : undefined;
    facts.explicitCurve = params?.namedCurve === undefined;
  }

  const seen = new Set<string>();
  for (const ext of tbs.extensions ?? []) {
    if (seen.has(ext.extnID)) facts.malformed.push(`repeats the ${extensionName(ext.extnID)} extension`);
    seen.add(ext.extnID);
    if (!RECOGNISED_EXTENSIONS.has(ext.extnID)) {
      if (ext.critical) facts.unknownCritical.push(ext.extnID);
      continue;
    }
    try {
      readExtension(facts, ext.extnID, ext.extnValue.buffer);
    } catch {
      facts.malformed.push(`has an undecodable ${extensionName(ext.extnID)} extension`);
    }
  }
  return facts;
}

function readExtension(facts: CertificateFacts, oid: string, value: ArrayBuffer): void {
  switch (oid) {
    case OID.basicConstraints: {
      const bc = AsnConvert.parse(value, BasicConstraints);
      facts.basicConstraints = { ca: bc.cA === true, pathLen: bc.pathLenConstraint };
      break;
    }
    case OID.keyUsage: {
      facts.keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
      break;
    }
    case OID.extKeyUsage:
      facts.eku = [...AsnConvert.parse(value, ExtendedKeyUsage)];
      break;
    case OID.subjectAltName:
      for (const gn of AsnConvert.parse(value, SubjectAlternativeName)) {
        if (gn.dNSName !== undefined) facts.dnsNames.push(gn.dNSName);
        if (gn.rfc822Name !== undefined) facts.emails.push(gn.rfc822Name);
        if (gn.uniformResourceIdentifier !== undefined) facts.uris.push(gn.uniformResourceIdentifier);
      }
      break;
    case OID.subjectKeyIdentifier:
      facts.subjectKeyId = hex(AsnConvert.parse(value, SubjectKeyIdentifier).buffer);
      break;
    case OID.authorityKeyIdentifier: {
      const aki = AsnConvert.parse(value, AuthorityKeyIdentifier);
      if (aki.keyIdentifier) facts.authorityKeyId = hex(aki.keyIdentifier.buffer);
      break;
    }
    default:
      break;
  }
}

const CACHE_LIMIT = 512;
const cache = new Map<string, CertificateFacts | Error>();

/**
 * The library's reading of one DER certificate, cached (least recently used out). Throws an Error when
 * the library cannot read a certificate Node accepted; the same Error is returned from the cache.
 */
export function certificateFacts(der: Buffer): CertificateFacts {
  const key = der.toString('latin1');
  let facts = cache.get(key);
  if (facts !== undefined) {
    cache.delete(key);
  } else {
    try {
      facts = readFacts(der);
    } catch (err) {
      facts = err instanceof Error ? err : new Error(String(err));
    }
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  }
  cache.set(key, facts);
  if (facts instanceof Error) throw facts;
  return facts;
}

const perObject = new WeakMap<X509Certificate, CertificateFacts>();

/** certificateFacts for a parsed certificate, remembered on the object (parsing and pinning both ask). */
export function factsOf(cert: X509Certificate): CertificateFacts {
  let facts = perObject.get(cert);
  if (facts === undefined) {
    facts = certificateFacts(cert.raw);
    perObject.set(cert, facts);
  }
  return facts;
}

/**
 * The SubjectPublicKeyInfo as encoded in the certificate. Uses the library's full reading when it is
 * already at hand; otherwise reads only the ASN.1 tree (no schema mapping), which is what pinning a
 * certificate seen for the first time needs. Throws when the library cannot read the certificate.
 */
export function encodedSpki(cert: X509Certificate): Buffer {
  const der = cert.raw;
  const key = der.toString('latin1');
  const known = perObject.get(cert) ?? cache.get(key);
  if (known !== undefined && !(known instanceof Error)) return known.spkiDer;
  let spkiDer = spkiCache.get(key);
  if (spkiDer === undefined) {
    const ber = asn1js.fromBER(der);
    if (ber.offset === -1) throw new Error(`ASN.1: ${ber.result.error}`);
    const tbs = (ber.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
    const fields = tbs.valueBlock.value;
    const spki = fields[fields[0].idBlock.tagClass === 3 ? 6 : 5];
    if (!(spki instanceof asn1js.Sequence)) throw new Error('tbsCertificate has no SubjectPublicKeyInfo');
    spkiDer = Buffer.from(spki.valueBeforeDecodeView);
    if (spkiCache.size >= CACHE_LIMIT) spkiCache.delete(spkiCache.keys().next().value as string);
    spkiCache.set(key, spkiDer);
  }
  return spkiDer;
}

const spkiCache = new Map<string, Buffer>();

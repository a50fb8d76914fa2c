/** Per-certificate checks of RFC 5280 path validation and of this project's client policy (DESIGN.md §5). */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { certificateValidity, oneLineName } from './digest';
import { safeText, type Problem } from './errors';
import { ANY_EXTENDED_KEY_USAGE_OID, CLIENT_AUTH_OID, MIN_EC_BITS, MIN_RSA_BITS, WEAK_HASHES } from './policy';
import { extensionName, factsOf, type CertificateFacts } from './x509';

const KEY_CERT_SIGN = 32;
const DIGITAL_SIGNATURE = 1;

/** A certificate with Node's view (signatures, keys, dates) and the library's (extensions, names). */
export class PathCertificate {
  private key?: KeyObject;
  readonly name: string;

  constructor(
    readonly cert: X509Certificate,
    readonly facts: CertificateFacts,
  ) {
    this.name = safeText(oneLineName(cert.subject) || '(empty subject)', 120);
  }

  /** Throws when the library cannot read the certificate (the caller decides what that means). */
  static of(cert: X509Certificate): PathCertificate {
    return new PathCertificate(cert, factsOf(cert));
  }

  get publicKey(): KeyObject {
    this.key ??= this.cert.publicKey;
    return this.key;
  }

  /** True when `issuer`'s key verifies this certificate's signature. */
  signedBy(issuer: PathCertificate): boolean {
    try {
      return this.cert.verify(issuer.publicKey);
    } catch {
      return false;
    }
  }
}

function formatSpan(ms: number): string {
  const abs = Math.abs(ms);
  if (abs >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)}d`;
  if (abs >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  return `${Math.round(ms / 1000)}s`;
}

/** CERT_NOT_YET_VALID / CERT_EXPIRED / EXPIRES_TOO_SOON. */
export function checkValidity(c: PathCertificate, role: string, at: Date, minRemainingMs: number): Problem[] {
  const { notBefore, notAfter } = certificateValidity(c.cert);
  const who = `${role} ${c.name}`;
  if (at.getTime() < notBefore.getTime()) {
    return [{ code: 'CERT_NOT_YET_VALID', message: `${who} is not valid before ${notBefore.toISOString()}` }];
  }
  if (at.getTime() > notAfter.getTime()) {
    return [{ code: 'CERT_EXPIRED', message: `${who} expired at ${notAfter.toISOString()}` }];
  }
  const remaining = notAfter.getTime() - at.getTime();
  if (remaining < minRemainingMs) {
    return [
      {
        code: 'EXPIRES_TOO_SOON',
        message: `${who} expires at ${notAfter.toISOString()}, in ${formatSpan(remaining)}; at least ${formatSpan(minRemainingMs)} is required`,
      },
    ];
  }
  return [];
}

/** Bits of an EC curve from its OpenSSL short name (prime256v1, secp384r1, brainpoolP512r1, ...). */
function curveBits(namedCurve: string | undefined): number | undefined {
  if (namedCurve === undefined) return undefined;
  const match = /(\d{3})/.exec(namedCurve);
  return match ? Number(match[1]) : undefined;
}

/** KEY_TOO_WEAK: RSA < 2048, EC < 256 bits or with explicit curve parameters, DSA, or a key that cannot sign. */
export function checkKeyStrength(c: PathCertificate, role: string): Problem[] {
  const key = c.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const weak = (message: string): Problem[] => [{ code: 'KEY_TOO_WEAK', message: `${role} ${c.name}: ${message}` }];
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.modulusLength ?? 0;
      return bits < MIN_RSA_BITS ? weak(`RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`) : [];
    }
    case 'dsa':
      return weak('DSA keys are not accepted');
    case 'ec': {
      // OpenSSL names explicit parameters after the curve they match; RFC 5480 allows named curves only.
      if (c.facts.explicitCurve) return weak('EC key uses explicit curve parameters; only named curves are accepted');
      const bits = curveBits(details.namedCurve);
      if (bits === undefined) return weak('EC key uses an unnamed or unknown curve');
      return bits < MIN_EC_BITS
        ? weak(`EC key on curve ${safeText(details.namedCurve ?? '', 40)} has ${bits} bits; at least ${MIN_EC_BITS} are required`)
        : [];
    }
    case 'ed25519':
    case 'ed448':
      return [];
    default:
      return weak(`${safeText(String(key.asymmetricKeyType), 20)} keys cannot sign a TLS handshake or a certificate`);
  }
}

/** WEAK_SIGNATURE_ALGORITHM for the certificate's own signature; SIGNATURE_INVALID when its two algorithm fields differ. */
export function checkSignatureAlgorithm(c: PathCertificate, role: string): Problem[] {
  const problems: Problem[] = [];
  if (WEAK_HASHES.includes(c.facts.signatureHash)) {
    problems.push({
      code: 'WEAK_SIGNATURE_ALGORITHM',
      message: `${role} ${c.name} is signed with ${c.facts.signatureHash}, which is no longer collision resistant`,
    });
  }
  if (c.facts.signatureAlgorithmMismatch) {
    problems.push({
      code: 'SIGNATURE_INVALID',
      message: `${role} ${c.name} names a different signature algorithm inside and outside its signed part (RFC 5280 §4.1.1.2)`,
    });
  }
  return problems;
}

/** UNKNOWN_CRITICAL_EXTENSION, and PEM_INVALID for what RFC 5280 forbids outright (repeated or undecodable extensions). */
export function checkExtensions(c: PathCertificate, role: string): Problem[] {
  return [
    ...c.facts.unknownCritical.map((oid): Problem => ({
      code: 'UNKNOWN_CRITICAL_EXTENSION',
      message: `${role} ${c.name} has the critical extension ${extensionName(oid)}, which this validator does not process`,
    })),
    ...c.facts.malformed.map((what): Problem => ({ code: 'PEM_INVALID', message: `${role} ${c.name} ${what}` })),
  ];
}

/** NOT_A_CA: an issuer needs a v3 basicConstraints with cA TRUE and, when keyUsage is present, keyCertSign. */
export function checkIssuerIsCa(c: PathCertificate, role: string): Problem[] {
  const { version, basicConstraints, keyUsage } = c.facts;
  const problems: Problem[] = [];
  const notCa = (why: string): void => {
    problems.push({ code: 'NOT_A_CA', message: `${role} ${c.name} issues certificates but ${why}` });
  };
  if (version < 3) notCa(`is a version ${version} certificate, which cannot say it is a CA`);
  else if (!basicConstraints) notCa('has no basicConstraints extension');
  else if (!basicConstraints.ca) notCa('has basicConstraints cA FALSE');
  if (keyUsage !== undefined && (keyUsage & KEY_CERT_SIGN) === 0) notCa('its key usage lacks keyCertSign');
  return problems;
}

/** EKU_MISSING_CLIENT_AUTH for an issuer whose EKU (when present) allows neither clientAuth nor any purpose. */
export function checkIssuerEku(c: PathCertificate, role: string): Problem[] {
  const eku = c.facts.eku;
  if (eku === undefined || eku.includes(CLIENT_AUTH_OID) || eku.includes(ANY_EXTENDED_KEY_USAGE_OID)) return [];
  return [
    {
      code: 'EKU_MISSING_CLIENT_AUTH',
      message: `${role} ${c.name} limits its extended key usage to purposes without clientAuth (${CLIENT_AUTH_OID})`,
    },
  ];
}

/** The leaf must name clientAuth in its EKU and, with a keyUsage, allow digitalSignature (the TLS CertificateVerify). */
export function checkLeafUsage(c: PathCertificate): Problem[] {
  const { eku, keyUsage } = c.facts;
  const problems: Problem[] = [];
  if (eku === undefined) {
    problems.push({
      code: 'EKU_MISSING_CLIENT_AUTH',
      message: `leaf has no extended key usage extension; clientAuth (${CLIENT_AUTH_OID}) is required`,
    });
  } else if (!eku.includes(CLIENT_AUTH_OID)) {
    problems.push({
      code: 'EKU_MISSING_CLIENT_AUTH',
      message: `leaf extended key usage does not include clientAuth (${CLIENT_AUTH_OID})`,
    });
  }
  if (keyUsage !== undefined && (keyUsage & DIGITAL_SIGNATURE) === 0) {
    problems.push({
      code: 'EKU_MISSING_CLIENT_AUTH',
      message: 'leaf key usage lacks digitalSignature, so it cannot sign a TLS client handshake',
    });
  }
  return problems;
}

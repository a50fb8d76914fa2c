import type { KeyObject, X509Certificate } from 'node:crypto';
import { certificateValidity, commonName, describeCertificate, oneLineName } from './digest';
import { CertificateError, safeText, sortProblems, type Problem } from './errors';
import { parseCertificates } from './pem';
import type { CertificateInfo } from './types';

export const DEFAULT_EXPECTED_ISSUER = 'GenesysCloudArchitectureCA';
/** id-kp-clientAuth (RFC 5280 §4.2.1.12). */
export const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
export const MIN_RSA_BITS = 2048;
export const MIN_EC_BITS = 256;
/** Trust bundles may be whole CA stores, so they get more room than a client chain. */
export const MAX_TRUST_BYTES = 4 * 1024 * 1024;
export const MAX_TRUST_CERTIFICATES = 1000;

export interface ValidateOptions {
  /** PEM of the trusted issuing certificates (e.g. the GenesysCloudArchitectureCA certificate). */
  trustPem: string | Uint8Array;
  /** CN the leaf's issuer must carry. Default `GenesysCloudArchitectureCA`. */
  expectedIssuer?: string;
  /** The moment validity is judged at. Default now. */
  at?: Date;
  /** The leaf must stay valid at least this long after `at` (EXPIRES_TOO_SOON). Default 0. */
  minRemainingMs?: number;
}

export type ValidationResult =
  | { valid: true; certificates: CertificateInfo[] }
  | { valid: false; error: Problem; errors: Problem[] };

function failure(problems: readonly Problem[]): ValidationResult {
  const errors = sortProblems(problems);
  return { valid: false, error: errors[0], errors };
}

function nameOf(cert: X509Certificate): string {
  return safeText(oneLineName(cert.subject) || '(empty subject)', 120);
}

function formatSpan(ms: number): string {
  const abs = Math.abs(ms);
  if (abs >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)}d`;
  if (abs >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  return `${Math.round(ms / 1000)}s`;
}

/** CERT_NOT_YET_VALID / CERT_EXPIRED / EXPIRES_TOO_SOON for one certificate. */
function checkValidity(cert: X509Certificate, role: string, at: Date, minRemainingMs: number): Problem[] {
  const { notBefore, notAfter } = certificateValidity(cert);
  const who = `${role} ${nameOf(cert)}`;
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

function checkKeyStrength(cert: X509Certificate): Problem[] {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const weak = (message: string): Problem[] => [{ code: 'KEY_TOO_WEAK', message }];
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
    case 'dsa': {
      const bits = details.modulusLength ?? 0;
      return bits < MIN_RSA_BITS
        ? weak(`${key.asymmetricKeyType.toUpperCase()} key has ${bits} bits; at least ${MIN_RSA_BITS} are required`)
        : [];
    }
    case 'ec': {
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
      return weak(`${safeText(String(key.asymmetricKeyType), 20)} keys cannot sign a TLS client handshake`);
  }
}

function checkClientAuth(leaf: X509Certificate): Problem[] {
  // Node calls the extended key usage `keyUsage`; it is undefined when the extension is absent, which
  // for a client certificate we treat as missing clientAuth rather than "any purpose".
  const eku = leaf.keyUsage as string[] | undefined;
  if (eku === undefined) {
    return [
      {
        code: 'EKU_MISSING_CLIENT_AUTH',
        message: `leaf has no extended key usage extension; clientAuth (${CLIENT_AUTH_OID}) is required`,
      },
    ];
  }
  if (!eku.includes(CLIENT_AUTH_OID)) {
    return [
      {
        code: 'EKU_MISSING_CLIENT_AUTH',
        message: `leaf extended key usage does not include clientAuth (${CLIENT_AUTH_OID})`,
      },
    ];
  }
  return [];
}

function checkIssuerName(leaf: X509Certificate, expected: string): Problem[] {
  const cn = commonName(leaf.issuer);
  if (cn === expected) return [];
  const found = cn === undefined ? 'has no CN' : `has CN "${safeText(cn, 80)}"`;
  return [{ code: 'ISSUER_MISMATCH', message: `leaf issuer ${found}; expected "${safeText(expected, 80)}"` }];
}

type PathResult = { ok: true; intermediates: X509Certificate[] } | { ok: false; reason: string };

/**
 * Looks for a signature path from `leaf` to a trust-bundle certificate, through chain certificates
 * that are CAs, allowed to sign (checkIssued: key usage and key identifiers) and whose own signature
 * verifies. Names only select candidates; every link is a real `verify()` with the issuer's key.
 * Results are memoised per certificate, so hostile chains of same-named certificates stay cheap.
 */
class PathFinder {
  private readonly keys = new Map<X509Certificate, KeyObject>();
  private readonly memo = new Map<X509Certificate, PathResult>();

  constructor(
    private readonly chain: readonly X509Certificate[],
    private readonly trust: readonly X509Certificate[],
  ) {}

  find(cert: X509Certificate): PathResult {
    const known = this.memo.get(cert);
    if (known) return known;
    // A cycle (A issued by B issued by A) ends here instead of recursing.
    this.memo.set(cert, { ok: false, reason: `${nameOf(cert)} is part of an issuer loop` });
    const result = this.search(cert);
    this.memo.set(cert, result);
    return result;
  }

  private search(cert: X509Certificate): PathResult {
    const reasons: string[] = [];
    for (const anchor of this.trust) {
      if (!this.names(anchor, cert)) continue;
      if (this.verifies(cert, anchor)) return { ok: true, intermediates: [] };
      reasons.push(`signature of ${nameOf(cert)} does not verify with the key of trusted ${nameOf(anchor)}`);
    }
    for (const candidate of this.chain) {
      if (candidate === cert || !this.names(candidate, cert)) continue;
      if (!this.verifies(cert, candidate)) {
        reasons.push(`signature of ${nameOf(cert)} does not verify with the key of chain certificate ${nameOf(candidate)}`);
        continue;
      }
      if (!candidate.ca) {
        reasons.push(`chain certificate ${nameOf(candidate)} signed ${nameOf(cert)} but is not a CA`);
        continue;
      }
      if (!cert.checkIssued(candidate)) {
        reasons.push(`chain certificate ${nameOf(candidate)} is not allowed to sign certificates (key usage or key identifier)`);
        continue;
      }
      const upper = this.find(candidate);
      if (upper.ok) return { ok: true, intermediates: [candidate, ...upper.intermediates] };
      reasons.push(upper.reason);
    }
    if (reasons.length > 0) return { ok: false, reason: reasons[0] };
    return {
      ok: false,
      reason: `no certificate in the chain or the trust bundle is the issuer of ${nameOf(cert)} (${safeText(oneLineName(cert.issuer), 120)})`,
    };
  }

  private names(issuer: X509Certificate, cert: X509Certificate): boolean {
    return cert.issuer === issuer.subject || cert.checkIssued(issuer);
  }

  private verifies(cert: X509Certificate, issuer: X509Certificate): boolean {
    let key = this.keys.get(issuer);
    if (!key) {
      key = issuer.publicKey;
      this.keys.set(issuer, key);
    }
    try {
      return cert.verify(key);
    } catch {
      return false;
    }
  }
}

function checkSignaturePath(
  certs: readonly X509Certificate[],
  trustPem: string | Uint8Array,
  at: Date,
): Problem[] {
  let trust: X509Certificate[];
  try {
    trust = parseCertificates(trustPem, { maxBytes: MAX_TRUST_BYTES, maxCertificates: MAX_TRUST_CERTIFICATES });
  } catch (err) {
    const reason = err instanceof CertificateError ? `${err.code}: ${err.message}` : 'unreadable';
    return [{ code: 'SIGNATURE_INVALID', message: `trust bundle is unusable (${reason}); no signature can be verified` }];
  }
  const path = new PathFinder(certs, trust).find(certs[0]);
  if (!path.ok) return [{ code: 'SIGNATURE_INVALID', message: path.reason }];
  // Intermediates on the path must be in their validity window too; the anchor is trusted as configured.
  return path.intermediates.flatMap((inter) => checkValidity(inter, 'intermediate', at, 0));
}

/**
 * Validates a client certificate chain (DESIGN.md §5). Never throws for bad input: framing problems
 * (INPUT_TOO_LARGE, PRIVATE_KEY_SUPPLIED, PEM_INVALID, NOT_A_CERTIFICATE) end validation at once;
 * otherwise every check runs and every problem is reported. `error` is the first problem in this
 * fixed order: CERT_NOT_YET_VALID, CERT_EXPIRED, EXPIRES_TOO_SOON, CERT_IS_CA, KEY_TOO_WEAK,
 * EKU_MISSING_CLIENT_AUTH, ISSUER_MISMATCH, SIGNATURE_INVALID (the order of CERTIFICATE_ERROR_CODES).
 * Throws RangeError only for invalid options (`at` not a date, negative `minRemainingMs`).
 */
export function validateCertificateChain(input: string | Uint8Array, opts: ValidateOptions): ValidationResult {
  const at = opts.at ?? new Date();
  const minRemainingMs = opts.minRemainingMs ?? 0;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new RangeError('ValidateOptions.at is not a valid date');
  if (!Number.isFinite(minRemainingMs) || minRemainingMs < 0) {
    throw new RangeError('ValidateOptions.minRemainingMs must be a non-negative number of milliseconds');
  }
  try {
    const certs = parseCertificates(input);
    const leaf = certs[0];
    const problems: Problem[] = [
      ...checkValidity(leaf, 'leaf', at, minRemainingMs),
      ...(leaf.ca ? [{ code: 'CERT_IS_CA' as const, message: 'leaf is a CA certificate (basicConstraints CA:TRUE); a client certificate must not be' }] : []),
      ...checkKeyStrength(leaf),
      ...checkClientAuth(leaf),
      ...checkIssuerName(leaf, opts.expectedIssuer ?? DEFAULT_EXPECTED_ISSUER),
      ...checkSignaturePath(certs, opts.trustPem, at),
    ];
    if (problems.length > 0) return failure(problems);
    return { valid: true, certificates: certs.map(describeCertificate) };
  } catch (err) {
    if (err instanceof CertificateError) return failure(err.problems);
    // Not expected: Node's X509 getters are exercised during parsing. Still, never throw for input.
    return failure([{ code: 'PEM_INVALID', message: 'certificate could not be processed' }]);
  }
}

/** Like validateCertificateChain, but returns the certificates or throws CertificateError with every problem. */
export function validateChainOrThrow(input: string | Uint8Array, opts: ValidateOptions): CertificateInfo[] {
  const result = validateCertificateChain(input, opts);
  if (!result.valid) throw CertificateError.fromProblems(result.errors);
  return result.certificates;
}

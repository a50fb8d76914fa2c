import type { X509Certificate } from 'node:crypto';
import {
  checkExtensions,
  checkKeyStrength,
  checkLeafUsage,
  checkSignatureAlgorithm,
  checkValidity,
  PathCertificate,
} from './checks';
import { commonName, describeCertificate } from './digest';
import { CertificateError, safeText, sortProblems, type Problem } from './errors';
import { checkIdentity, type IdentityOptions } from './identity';
import { findPath } from './path';
import { parseCertificates } from './pem';
import { CLIENT_AUTH_OID, DEFAULT_EXPECTED_ISSUER, MIN_EC_BITS, MIN_RSA_BITS } from './policy';
import type { CertificateInfo } from './types';

export { CLIENT_AUTH_OID, DEFAULT_EXPECTED_ISSUER, MIN_EC_BITS, MIN_RSA_BITS };
export type { IdentityOptions };
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
  /** When given, the leaf must name this client (IDENTITY_MISMATCH). */
  identity?: IdentityOptions;
}

export type ValidationResult =
  | { valid: true; certificates: CertificateInfo[] }
  | { valid: false; error: Problem; errors: Problem[] };

function failure(problems: readonly Problem[]): ValidationResult {
  const errors = sortProblems(problems);
  return { valid: false, error: errors[0], errors };
}

function checkIssuerName(leaf: X509Certificate, expected: string): Problem[] {
  const cn = commonName(leaf.issuer);
  if (cn === expected) return [];
  const found = cn === undefined ? 'has no CN' : `has CN "${safeText(cn, 80)}"`;
  return [{ code: 'ISSUER_MISMATCH', message: `leaf issuer ${found}; expected "${safeText(expected, 80)}"` }];
}

type Anchors = { anchors: PathCertificate[] } | { problem: Problem };

/** The worker validates against one trust bundle for its whole life: its parsed form is kept (a few bundles). */
const trustCache = new Map<string, Anchors>();
const TRUST_CACHE_LIMIT = 4;

function trustAnchors(trustPem: string | Uint8Array): Anchors {
  const key = typeof trustPem === 'string' ? `s${trustPem}` : `b${Buffer.from(trustPem.buffer, trustPem.byteOffset, trustPem.byteLength).toString('latin1')}`;
  const cached = trustCache.get(key);
  if (cached) return cached;
  let result: Anchors;
  try {
    const certs = parseCertificates(trustPem, { maxBytes: MAX_TRUST_BYTES, maxCertificates: MAX_TRUST_CERTIFICATES });
    const anchors: PathCertificate[] = [];
    for (const cert of certs) {
      try {
        anchors.push(PathCertificate.of(cert));
      } catch {
        // A bundle certificate the X.509 library cannot read is no anchor; the others still are.
      }
    }
    result = anchors.length > 0
      ? { anchors }
      : { problem: { code: 'SIGNATURE_INVALID', message: 'trust bundle has no readable certificate; no signature can be verified' } };
  } catch (err) {
    const reason = err instanceof CertificateError ? `${err.code}: ${err.message}` : 'unreadable';
    result = { problem: { code: 'SIGNATURE_INVALID', message: `trust bundle is unusable (${reason}); no signature can be verified` } };
  }
  if (trustCache.size >= TRUST_CACHE_LIMIT) trustCache.delete(trustCache.keys().next().value as string);
  trustCache.set(key, result);
  return result;
}

/** Checks of the leaf that do not depend on the path chosen above it. */
function leafProblems(leaf: PathCertificate, opts: ValidateOptions, at: Date, minRemainingMs: number): Problem[] {
  return [
    ...checkValidity(leaf, 'leaf', at, minRemainingMs),
    ...(leaf.facts.basicConstraints?.ca
      ? [{ code: 'CERT_IS_CA' as const, message: 'leaf is a CA certificate (basicConstraints cA TRUE); a client certificate must not be' }]
      : []),
    ...checkKeyStrength(leaf, 'leaf'),
    ...checkSignatureAlgorithm(leaf, 'leaf'),
    ...checkLeafUsage(leaf),
    ...checkExtensions(leaf, 'leaf'),
    ...checkIssuerName(leaf.cert, opts.expectedIssuer ?? DEFAULT_EXPECTED_ISSUER),
    ...(opts.identity ? checkIdentity(leaf.facts, opts.identity) : []),
  ];
}

/** Reads every certificate with the X.509 library; one it cannot read is PEM_INVALID (never a crash). */
function readChain(certs: readonly X509Certificate[]): PathCertificate[] {
  return certs.map((cert, i) => {
    try {
      return PathCertificate.of(cert);
    } catch {
      throw new CertificateError('PEM_INVALID', `certificate ${i + 1} does not decode as RFC 5280 X.509 (its ASN.1 could not be read)`);
    }
  });
}

/**
 * Validates a client certificate chain (DESIGN.md §5): RFC 5280 §6.1 path validation over every candidate
 * path to the trust bundle, plus the client policy (leaf not a CA, clientAuth, key strength, issuer CN,
 * optionally the client's identity). Never throws for bad input: framing problems (INPUT_TOO_LARGE,
 * PRIVATE_KEY_SUPPLIED, PEM_INVALID, NOT_A_CERTIFICATE) end validation at once; otherwise every problem
 * of the leaf and of the best path is reported, the headline first in the order of CERTIFICATE_ERROR_CODES.
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
    const [leaf, ...chain] = readChain(certs);
    const problems = leafProblems(leaf, opts, at, minRemainingMs);
    const trust = trustAnchors(opts.trustPem);
    if ('problem' in trust) problems.push(trust.problem);
    else problems.push(...findPath(leaf, chain, trust.anchors, at).problems);
    if (problems.length > 0) return failure(problems);
    return { valid: true, certificates: certs.map(describeCertificate) };
  } catch (err) {
    if (err instanceof CertificateError) return failure(err.problems);
    // Not expected: every getter the checks use is exercised while parsing. Still, never throw for input.
    return failure([{ code: 'PEM_INVALID', message: 'certificate could not be processed' }]);
  }
}

/** Like validateCertificateChain, but returns the certificates or throws CertificateError with every problem. */
export function validateChainOrThrow(input: string | Uint8Array, opts: ValidateOptions): CertificateInfo[] {
  const result = validateCertificateChain(input, opts);
  if (!result.valid) throw CertificateError.fromProblems(result.errors);
  return result.certificates;
}

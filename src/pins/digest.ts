import { createHash, X509Certificate } from 'node:crypto';
import { CertificateError } from './errors';
import type { CertificateInfo, Pin, PinRole } from './types';
import { encodedSpki } from './x509';

/**
 * The SubjectPublicKeyInfo exactly as encoded in the certificate (what RFC 7469 hashes), as the ASN.1
 * library reads it. Node's `publicKey.export()` re-encodes the key (explicit curve parameters come out
 * named), so it is only the fallback for a certificate the library cannot read.
 */
export function subjectPublicKeyInfoDer(cert: X509Certificate): Buffer {
  try {
    return encodedSpki(cert);
  } catch {
    try {
      return cert.publicKey.export({ type: 'spki', format: 'der' });
    } catch {
      throw new CertificateError('PEM_INVALID', 'certificate public key could not be read');
    }
  }
}

/** RFC 7469 pin-sha256: SHA-256 over the DER SubjectPublicKeyInfo, base64 (44 chars, padded). */
export function spkiPin(cert: X509Certificate): string {
  return createHash('sha256').update(subjectPublicKeyInfoDer(cert)).digest('base64');
}

/** SHA-256 over the whole DER certificate, base64. */
export function certificatePin(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('base64');
}

/** A base64 SHA-256 digest is exactly 44 characters ending in one '='. */
export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(value);
}

/**
 * Node prints names as one attribute per line; pins and reports use the one-line `CN=a, O=b` form.
 * Node gives `undefined` for an empty name (a leaf named only in its subjectAltName): that is ''.
 */
export function oneLineName(name: string | undefined): string {
  if (name === undefined) return '';
  return name
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .join(', ');
}

export function commonName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  for (const part of name.split('\n')) {
    const match = /^\s*CN=(.*)$/.exec(part);
    if (match) return match[1].trim();
  }
  return undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const OPENSSL_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,9})? (\d{1,4}) GMT$/;

/**
 * Parses the time strings `X509Certificate.validFrom/validTo` give (OpenSSL's `Jan  2 03:04:05 2026 GMT`).
 * `new Date(string)` is not safe here: V8 reads the year `0001` as 2001 and `0049` as 2049, so a
 * certificate that expired in year 49 would look valid. Returns undefined for anything unexpected.
 */
export function parseCertificateTime(value: string): Date | undefined {
  const match = OPENSSL_TIME.exec(value);
  if (!match) return undefined;
  const [, mon, day, hh, mm, ss, fraction, year] = match;
  const month = MONTHS.indexOf(mon);
  const d = Number(day);
  const h = Number(hh);
  const m = Number(mm);
  const s = Number(ss);
  if (month < 0 || d < 1 || d > 31 || h > 23 || m > 59 || s > 60) return undefined;
  const ms = fraction ? Math.floor(Number(`0${fraction}`) * 1000) : 0;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999.
  date.setUTCFullYear(Number(year), month, d);
  date.setUTCHours(h, m, Math.min(s, 59), ms);
  if (date.getUTCDate() !== d || date.getUTCMonth() !== month) return undefined; // e.g. Feb 30
  return date;
}

/** notBefore and notAfter of a certificate; throws CertificateError (PEM_INVALID) when unreadable. */
export function certificateValidity(cert: X509Certificate): { notBefore: Date; notAfter: Date } {
  const notBefore = parseCertificateTime(cert.validFrom);
  const notAfter = parseCertificateTime(cert.validTo);
  if (!notBefore || !notAfter) {
    throw new CertificateError('PEM_INVALID', 'certificate validity dates could not be read');
  }
  return { notBefore, notAfter };
}

export function describeCertificate(cert: X509Certificate): CertificateInfo {
  const { notBefore, notAfter } = certificateValidity(cert);
  return {
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    serialNumber: cert.serialNumber.toUpperCase(),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    sha256Spki: spkiPin(cert),
    sha256Certificate: certificatePin(cert),
  };
}

export function pinFromInfo(info: CertificateInfo, role: PinRole): Pin {
  return {
    role,
    sha256Spki: info.sha256Spki,
    sha256Certificate: info.sha256Certificate,
    notAfter: info.notAfter,
    serialNumber: info.serialNumber,
    subject: info.subject,
  };
}

export function pinFromCertificate(cert: X509Certificate, role: PinRole): Pin {
  return pinFromInfo(describeCertificate(cert), role);
}

// No Node built-ins here: the rotation workflow runs this inside Temporal's deterministic sandbox, before any
// activity is scheduled, so key material never reaches an activity input, the platform or a later history.

/** DESIGN.md §5 INPUT_TOO_LARGE: the same 256 KiB as DEFAULT_MAX_PEM_BYTES in src/pins/pem.ts (which needs node:crypto). */
export const MAX_CHAIN_BYTES = 256 * 1024;

export interface CertificatesOnly {
  /** The CERTIFICATE blocks of the input, re-framed: markers, the base64 body wrapped at 64 columns, nothing else. */
  pem: string;
  count: number;
}

export type CertificatesOnlyCode = 'INPUT_TOO_LARGE' | 'PRIVATE_KEY_SUPPLIED' | 'PEM_INVALID' | 'NOT_A_CERTIFICATE';

export class CertificatesOnlyError extends Error {
  constructor(
    readonly code: CertificatesOnlyCode,
    message: string,
  ) {
    super(message);
    this.name = 'CertificatesOnlyError';
  }
}

/** At most this many certificates travel (a leaf and a few intermediates), as in src/pins/pem.ts. */
export const MAX_CERTIFICATE_BLOCKS = 10;

/**
 * Key material in any letter case and any flavour: a PEM key block (PKCS#1/#8, SEC1, ENCRYPTED, OpenSSH, PGP),
 * even with broken markers; PuTTY key files; an OpenSSH key body ("openssh-key-v1" in base64).
 */
const KEY_MARKERS = /private[\s_-]{0,3}key|putty-user-key-file|b3BlbnNzaC1rZXktdjE/i;
/** A JSON member that only a private JWK has (RFC 7517/7518: d, p, q, dp, dq, qi, oth; k of a symmetric key). */
const JWK_PRIVATE_MEMBER = /\\?["'`]\s*(?:d|p|q|dp|dq|qi|k|oth)\s*\\?["'`]\s*:/i;
const BEGIN = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]+={0,2}$/;

/** UTF-8 size of a string without a Buffer (the sandbox has none): a surrogate pair is 4 bytes, others 1-3. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Throws PRIVATE_KEY_SUPPLIED when the text holds any key material; never echoes it. */
export function refuseKeyMaterial(text: string): void {
  if (KEY_MARKERS.test(text) || JWK_PRIVATE_MEMBER.test(text)) {
    throw new CertificatesOnlyError('PRIVATE_KEY_SUPPLIED', 'the input holds private key material; send certificates only (it was not used, stored or echoed)');
  }
}

/**
 * The certificates of a PEM text and nothing else (DESIGN.md §4 Bounds): refuses input over `maxBytes`, any key
 * material, and text without a well-formed CERTIFICATE block; returns only the CERTIFICATE blocks, re-framed.
 * DER is not decoded here (the validateCertificate activity does that); the body must be plain base64.
 */
export function certificatesOnly(input: unknown, maxBytes: number = MAX_CHAIN_BYTES): CertificatesOnly {
  if (typeof input !== 'string') throw new CertificatesOnlyError('PEM_INVALID', 'the certificate chain must be PEM text');
  if (input.length > maxBytes || utf8Length(input) > maxBytes) {
    throw new CertificatesOnlyError('INPUT_TOO_LARGE', `the certificate chain is larger than ${maxBytes} bytes`);
  }
  refuseKeyMaterial(input);
  const blocks: string[] = [];
  for (const match of input.matchAll(BEGIN)) {
    const body = match[1].replace(/[\s]+/g, '');
    if (body.length === 0 || body.length % 4 !== 0 || !BASE64_BODY.test(body)) {
      throw new CertificatesOnlyError('PEM_INVALID', `certificate block ${blocks.length + 1} is not valid base64`);
    }
    blocks.push(`-----BEGIN CERTIFICATE-----\n${(body.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`);
  }
  if (blocks.length === 0) {
    throw new CertificatesOnlyError(
      /-----BEGIN [A-Z0-9 ]{1,40}-----/.test(input) ? 'NOT_A_CERTIFICATE' : 'PEM_INVALID',
      'no -----BEGIN CERTIFICATE----- block found',
    );
  }
  if (blocks.length > MAX_CERTIFICATE_BLOCKS) {
    throw new CertificatesOnlyError('INPUT_TOO_LARGE', `the chain has ${blocks.length} certificates; at most ${MAX_CERTIFICATE_BLOCKS} are accepted`);
  }
  return { pem: blocks.join(''), count: blocks.length };
}

/** The base64 bodies of a re-framed chain joined by "." — what a signed start request binds to (see contract/approval). */
export function chainFingerprintText(reframedPem: string): string {
  return [...reframedPem.matchAll(BEGIN)].map((m) => m[1].replace(/\s+/g, '')).join('.');
}

import { X509Certificate } from 'node:crypto';
import { CertificateError } from './errors';
import { certificateValidity } from './digest';

/** DESIGN.md §5: chains above this size are refused before any parsing. */
export const DEFAULT_MAX_PEM_BYTES = 256 * 1024;
/** A client chain is a leaf and a few intermediates; more than this is not a chain we accept. */
export const DEFAULT_MAX_CERTIFICATES = 10;

export interface PemBlock {
  /** The label between `-----BEGIN ` and `-----`, e.g. `CERTIFICATE`. */
  label: string;
  der: Buffer;
  /** 1-based line of the BEGIN marker (after marker normalisation), for messages. */
  line: number;
}

export interface PemOptions {
  /** Refuse input larger than this many bytes (INPUT_TOO_LARGE). Default 256 KiB. */
  maxBytes?: number;
  /** Refuse more certificate blocks than this (INPUT_TOO_LARGE). Default 10. */
  maxCertificates?: number;
}

const CERTIFICATE_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);
/** Labels we name in messages; anything else is "an unrecognised block" so input is never echoed. */
const KNOWN_LABELS = new Set([
  ...CERTIFICATE_LABELS,
  'CERTIFICATE REQUEST',
  'NEW CERTIFICATE REQUEST',
  'PUBLIC KEY',
  'RSA PUBLIC KEY',
  'X509 CRL',
  'EC PARAMETERS',
  'DH PARAMETERS',
  'PKCS7',
  'CMS',
]);

// Any private key marker, whatever its flavour (PKCS#1, SEC1, PKCS#8, encrypted, OpenSSH, PGP), even
// with a broken dash count, truncated or in the middle of a line; plus PuTTY's key files. The dashes
// keep prose ("begin with a private key") from matching; bounded quantifiers keep this linear.
// (Fixed `--`, not `-{2,}`: an unbounded dash run makes a line of dashes quadratic.)
const PRIVATE_KEY_MARKER =
  /-- ?(?:BEGIN|END) [A-Z0-9 ]{0,40}PRIVATE KEY|(?:BEGIN|END) [A-Z0-9 ]{0,40}PRIVATE KEY ?--|PuTTY-User-Key-File-/;
/** Splits a line around encapsulation markers (the capture group keeps the markers as segments). */
const MARKER = /(-----(?:BEGIN|END) [^\r\n-]{0,64}-----)/;
const BEGIN_LINE = /^-----BEGIN ([^-]{0,64})-----$/;
const END_LINE = /^-----END ([^-]{0,64})-----$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function isCertificateLabel(label: string): boolean {
  return CERTIFICATE_LABELS.has(label);
}

function describeLabel(label: string): string {
  return KNOWN_LABELS.has(label) ? `a ${label} block` : 'an unrecognised PEM block';
}

function invalid(message: string): CertificateError {
  return new CertificateError('PEM_INVALID', message);
}

/** Byte size of the input without copying a string that is obviously too large. */
function inputToText(input: string | Uint8Array, maxBytes: number): string {
  if (typeof input === 'string') {
    // Every UTF-16 unit is at least one UTF-8 byte: a quick refusal before measuring precisely.
    if (input.length > maxBytes || Buffer.byteLength(input, 'utf8') > maxBytes) {
      throw new CertificateError('INPUT_TOO_LARGE', `input is larger than ${maxBytes} bytes`);
    }
    return input;
  }
  if (!(input instanceof Uint8Array)) {
    throw invalid('input is neither text nor bytes');
  }
  if (input.byteLength > maxBytes) {
    throw new CertificateError('INPUT_TOO_LARGE', `input is larger than ${maxBytes} bytes`);
  }
  // latin1 maps every byte to one character, so arbitrary bytes never throw and line numbers hold.
  return Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
}

function decodeBase64(lines: string[], label: string, line: number): Buffer {
  const text = lines.join('').replace(/[ \t]+/g, '');
  const where = `${describeLabel(label)} at line ${line}`;
  if (text.length === 0) throw invalid(`${where} is empty`);
  if (!BASE64.test(text) || text.length % 4 !== 0) {
    throw invalid(`${where} is not valid base64 (stray characters, headers or a cut-off line)`);
  }
  const der = Buffer.from(text, 'base64');
  // Buffer's decoder is lenient; requiring the canonical encoding catches corrupted final characters.
  if (der.toString('base64') !== text) throw invalid(`${where} is not canonical base64`);
  return der;
}

/**
 * Frames PEM text into blocks. Accepts CRLF or CR line ends, text before, after and between blocks,
 * and several blocks. Throws CertificateError:
 * INPUT_TOO_LARGE (over `maxBytes`), PRIVATE_KEY_SUPPLIED (any private key, checked before anything
 * else so a key is refused even inside a broken block), PEM_INVALID (no block, bad base64, a block
 * without its END line, mismatched labels) and NOT_A_CERTIFICATE (blocks, but none is a certificate).
 */
export function splitPem(input: string | Uint8Array, opts: PemOptions = {}): PemBlock[] {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_PEM_BYTES;
  let text = inputToText(input, maxBytes);
  if (PRIVATE_KEY_MARKER.test(text)) {
    throw new CertificateError(
      'PRIVATE_KEY_SUPPLIED',
      'input contains a private key; only certificates are accepted (the key was not stored or logged)',
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  else if (text.startsWith('\u00ef\u00bb\u00bf')) text = text.slice(3); // UTF-8 BOM read as latin1
  if (text.trim().length === 0) throw invalid('input is empty');

  const blocks: PemBlock[] = [];
  let open: { label: string; line: number; body: string[] } | undefined;
  const lines = text.split(/\r\n|\r|\n/);

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    // A marker gets a segment of its own, so PEM pasted on one line (newlines turned into spaces by
    // an environment variable or a form field) frames the same way as a normal file.
    for (const raw of lines[i].split(MARKER)) {
      const segment = raw.trim();
      if (segment.length === 0) continue;
      if (open === undefined) {
        const begin = BEGIN_LINE.exec(segment);
        if (begin) {
          open = { label: begin[1], line: lineNo, body: [] };
        } else if (segment.startsWith('-----END')) {
          throw invalid(`END marker at line ${lineNo} has no matching BEGIN marker`);
        } else if (segment.startsWith('-----BEGIN')) {
          throw invalid(`malformed BEGIN marker at line ${lineNo}`);
        }
        continue; // explanatory text outside blocks is allowed
      }
      const end = END_LINE.exec(segment);
      if (end) {
        if (end[1] !== open.label) {
          throw invalid(`${describeLabel(open.label)} at line ${open.line} ends with a different END label`);
        }
        blocks.push({ label: open.label, der: decodeBase64(open.body, open.label, open.line), line: open.line });
        open = undefined;
      } else if (segment.startsWith('-----')) {
        throw invalid(`${describeLabel(open.label)} at line ${open.line} is cut off before its END marker`);
      } else {
        open.body.push(segment);
      }
    }
  }
  if (open !== undefined) {
    throw invalid(`${describeLabel(open.label)} at line ${open.line} has no END marker (truncated?)`);
  }
  if (blocks.length === 0) {
    throw invalid('no PEM block found; expected -----BEGIN CERTIFICATE-----');
  }
  if (!blocks.some((b) => isCertificateLabel(b.label))) {
    const found = [...new Set(blocks.map((b) => describeLabel(b.label)))].join(', ');
    throw new CertificateError('NOT_A_CERTIFICATE', `input holds no certificate, only ${found}`);
  }
  return blocks;
}

/** Parses one certificate block; PEM_INVALID when the DER is not exactly one usable certificate. */
function parseCertificateBlock(block: PemBlock, index: number): X509Certificate {
  const where = `certificate ${index + 1} (line ${block.line})`;
  const der = block.der;
  if (der.length < 16 || der[0] !== 0x30) throw invalid(`${where} is not DER-encoded X.509`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw invalid(`${where} does not parse as an X.509 certificate`);
  }
  // Node silently ignores bytes after the certificate, and would even accept PEM text hidden in the
  // base64; both mean the pinned bytes are not the bytes supplied. TRUSTED CERTIFICATE carries
  // OpenSSL trust settings after the certificate by design.
  if (block.label !== 'TRUSTED CERTIFICATE' && cert.raw.length !== der.length) {
    throw invalid(`${where} has trailing data after the certificate`);
  }
  try {
    // Touch what describeCertificate and the checks use, so later code cannot fail on this cert.
    void cert.subject;
    void cert.issuer;
    void cert.publicKey.asymmetricKeyType;
  } catch {
    throw invalid(`${where} has a public key Node cannot decode (unsupported algorithm?)`);
  }
  certificateValidity(cert);
  return cert;
}

/**
 * Parses every certificate block of a PEM chain, leaf first as given. Non-certificate blocks beside
 * certificates (a CSR, EC PARAMETERS) are ignored; private keys never are. Throws only CertificateError.
 */
export function parseCertificates(input: string | Uint8Array, opts: PemOptions = {}): X509Certificate[] {
  const maxCertificates = opts.maxCertificates ?? DEFAULT_MAX_CERTIFICATES;
  try {
    const blocks = splitPem(input, opts).filter((b) => isCertificateLabel(b.label));
    if (blocks.length > maxCertificates) {
      throw new CertificateError(
        'INPUT_TOO_LARGE',
        `chain has ${blocks.length} certificates; at most ${maxCertificates} are accepted`,
      );
    }
    return blocks.map(parseCertificateBlock);
  } catch (err) {
    if (err instanceof CertificateError) throw err;
    // Defensive: whatever the parser met, callers only ever see CertificateError.
    throw invalid('input could not be parsed as PEM certificates');
  }
}

import { X509Certificate } from 'node:crypto';

/**
 * The platform's own PEM reader for `certificateChain`. Independent of src/pins on purpose: the emulator
 * stands in for a remote service, so it must not share the parser of the code it checks.
 */
export type ChainResult =
  | { ok: true; certificates: X509Certificate[] }
  | { ok: false; errorCode: 'PEM_INVALID' | 'PRIVATE_KEY_SUPPLIED'; message: string };

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function parseChain(text: string): ChainResult {
  const certificates: X509Certificate[] = [];
  let blocks = 0;
  for (const match of text.matchAll(BLOCK)) {
    blocks += 1;
    const [, label, body, endLabel] = match;
    if (label.includes('PRIVATE KEY') || endLabel.includes('PRIVATE KEY')) {
      return { ok: false, errorCode: 'PRIVATE_KEY_SUPPLIED', message: 'certificateChain contains a private key; it was refused and not stored.' };
    }
    if (label !== endLabel) {
      return { ok: false, errorCode: 'PEM_INVALID', message: `certificateChain has a BEGIN ${label} block closed by END ${endLabel}.` };
    }
    if (label !== 'CERTIFICATE') continue;
    const compact = body.replace(/\s+/g, '');
    if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64.test(compact)) {
      return { ok: false, errorCode: 'PEM_INVALID', message: `certificate ${certificates.length + 1} of certificateChain is not valid base64.` };
    }
    try {
      certificates.push(new X509Certificate(Buffer.from(compact, 'base64')));
    } catch {
      return { ok: false, errorCode: 'PEM_INVALID', message: `certificate ${certificates.length + 1} of certificateChain is not a valid DER certificate.` };
    }
  }
  // Count BEGIN lines too: a trailing block without END (truncated paste) matches nothing above.
  const begins = (text.match(/-----BEGIN [A-Z0-9 ]+-----/g) ?? []).length;
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    return { ok: false, errorCode: 'PRIVATE_KEY_SUPPLIED', message: 'certificateChain contains a private key; it was refused and not stored.' };
  }
  if (begins !== blocks) {
    return { ok: false, errorCode: 'PEM_INVALID', message: 'certificateChain has a PEM block without its END line (truncated?).' };
  }
  if (certificates.length === 0) {
    return { ok: false, errorCode: 'PEM_INVALID', message: 'certificateChain holds no PEM CERTIFICATE block.' };
  }
  return { ok: true, certificates };
}

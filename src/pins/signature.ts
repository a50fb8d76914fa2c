// Pure JavaScript (no Node built-ins): workflow code verifies approvals with it inside Temporal's sandbox.
import type { ed25519 as Ed25519 } from '@noble/curves/ed25519';
import type { sha256 as Sha256 } from '@noble/hashes/sha256';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';

const HEX = /^[0-9a-f]+$/i;

/*
 * The curve and the hash are loaded on first use. Every workflow run evaluates the modules it imports afresh
 * (Temporal's sandbox keeps module state per run) and these are the costliest of them: a rotation without a signed
 * request or approval never pays for them. The bundler still includes them.
 */
let curve: typeof Ed25519 | undefined;
function ed25519(): typeof Ed25519 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load (above)
  curve ??= (require('@noble/curves/ed25519') as { ed25519: typeof Ed25519 }).ed25519;
  return curve;
}
let hash: typeof Sha256 | undefined;
function sha256(data: Uint8Array): Uint8Array {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load (above)
  hash ??= (require('@noble/hashes/sha256') as { sha256: typeof Sha256 }).sha256;
  return hash(data);
}

/** sha256 of UTF-8 text, lower-case hex. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** True only for a valid Ed25519 signature (hex) by `publicKeyHex` (raw 32 bytes) over `message`; never throws. */
export function verifyEd25519(publicKeyHex: string, message: string, signatureHex: string): boolean {
  if (typeof publicKeyHex !== 'string' || typeof signatureHex !== 'string' || typeof message !== 'string') return false;
  if (publicKeyHex.length !== 64 || signatureHex.length !== 128 || !HEX.test(publicKeyHex) || !HEX.test(signatureHex)) return false;
  try {
    return ed25519().verify(hexToBytes(signatureHex), utf8ToBytes(message), hexToBytes(publicKeyHex), { zip215: false });
  } catch {
    return false;
  }
}

// Pure JavaScript (no Node built-ins): workflow code verifies approvals with it inside Temporal's sandbox.
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';

const HEX = /^[0-9a-f]+$/i;

/** sha256 of UTF-8 text, lower-case hex. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** True only for a valid Ed25519 signature (hex) by `publicKeyHex` (raw 32 bytes) over `message`; never throws. */
export function verifyEd25519(publicKeyHex: string, message: string, signatureHex: string): boolean {
  if (typeof publicKeyHex !== 'string' || typeof signatureHex !== 'string' || typeof message !== 'string') return false;
  if (publicKeyHex.length !== 64 || signatureHex.length !== 128 || !HEX.test(publicKeyHex) || !HEX.test(signatureHex)) return false;
  try {
    return ed25519.verify(hexToBytes(signatureHex), utf8ToBytes(message), hexToBytes(publicKeyHex), { zip215: false });
  } catch {
    return false;
  }
}

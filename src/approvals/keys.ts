import { createPublicKey } from 'node:crypto';

/** An Ed25519 public key (PEM SPKI, or 64 hex characters raw) as raw hex, the form workflows verify with. */
export function hexOfPublicKey(text: string): string {
  const trimmed = text.trim();
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return trimmed.toLowerCase();
  if (/private/i.test(trimmed)) throw new Error('holds a private key; give the public key only');
  const key = createPublicKey(trimmed);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`is a ${key.asymmetricKeyType ?? 'unknown'} key; approver keys are Ed25519`);
  const x = key.export({ format: 'jwk' }).x;
  if (!x) throw new Error('has no public key');
  return Buffer.from(x, 'base64url').toString('hex');
}

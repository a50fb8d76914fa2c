import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';

/**
 * Optional encryption of every workflow payload (inputs, results, signals, queries, activity arguments) with
 * AES-256-GCM, so Temporal's database and UI only ever hold ciphertext. Worker and Client use the same key; the
 * codec server (`pinrotate codec-server`) lets the Temporal UI decode for operators who hold it.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID_META = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A payload as bytes: its metadata and data, base64 in a small JSON document. */
function serialize(p: Payload): Buffer {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v).toString('base64');
  return Buffer.from(JSON.stringify({ m: metadata, d: Buffer.from(p.data ?? new Uint8Array()).toString('base64') }), 'utf8');
}

function deserialize(bytes: Buffer): Payload {
  const doc = JSON.parse(bytes.toString('utf8')) as { m: Record<string, string>; d: string };
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(doc.m)) metadata[k] = Buffer.from(v, 'base64');
  return { metadata, data: Buffer.from(doc.d, 'base64') };
}

export class AesGcmCodec implements PayloadCodec {
  private readonly key: Buffer;

  constructor(
    key: Uint8Array,
    readonly keyId: string,
  ) {
    if (key.length !== 32) throw new Error('PAYLOAD_CODEC_KEY must decode to exactly 32 bytes (AES-256)');
    this.key = Buffer.from(key);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = serialize(payload);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: encoder.encode(ENCRYPTED_ENCODING), [KEY_ID_META]: encoder.encode(this.keyId) },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || decoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const keyId = payload.metadata?.[KEY_ID_META] ? decoder.decode(payload.metadata[KEY_ID_META]) : '';
      if (keyId !== this.keyId) throw new Error(`payload was encrypted with key "${keyId}", this codec holds "${this.keyId}"`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return deserialize(plain);
    });
  }
}

/** The codec from PAYLOAD_CODEC_KEY (base64 of 32 bytes) and PAYLOAD_CODEC_KEY_ID, or none when unset. */
export function codecFromEnv(env: Record<string, string | undefined>): AesGcmCodec | undefined {
  const raw = env.PAYLOAD_CODEC_KEY;
  if (!raw) return undefined;
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new Error('PAYLOAD_CODEC_KEY must be the base64 of exactly 32 random bytes (e.g. `openssl rand -base64 32`)');
  return new AesGcmCodec(key, env.PAYLOAD_CODEC_KEY_ID ?? 'default');
}

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';

/**
 * Optional encryption of every workflow payload (inputs, results, signals, queries, activity arguments) with
 * AES-256-GCM, so Temporal's database and UI only ever hold ciphertext. Worker and Client use the same key; the
 * codec server (`pinrotate codec-server`) lets the Temporal UI decode for operators who hold it.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID_META = 'encryption-key-id';
/** Marks ciphertext whose AAD binds it to its encoding and key id; older ciphertext has no such mark. */
const FORMAT_META = 'encryption-format';
const FORMAT_BOUND = 'aes-256-gcm/aad-v1';

export interface CodecOptions {
  /** Migration switch (PAYLOAD_CODEC_ALLOW_PLAINTEXT=1): pass unencrypted payloads through instead of refusing them. */
  allowPlaintext?: boolean;
  /** Migration switch (PAYLOAD_CODEC_ALLOW_UNBOUND=1): decode ciphertext written before the AAD binding. */
  allowUnbound?: boolean;
}

/** What the ciphertext is bound to: a payload relabelled to another key id or format does not decrypt. */
function aad(keyId: string): Buffer {
  return Buffer.from(`${ENCRYPTED_ENCODING}\n${FORMAT_BOUND}\n${keyId}`, 'utf8');
}

export class PayloadCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadCodecError';
  }
}
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
    readonly options: CodecOptions = {},
  ) {
    if (key.length !== 32) throw new Error('PAYLOAD_CODEC_KEY must decode to exactly 32 bytes (AES-256)');
    this.key = Buffer.from(key);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = serialize(payload);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv);
      cipher.setAAD(aad(this.keyId));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: encoder.encode(ENCRYPTED_ENCODING),
          [KEY_ID_META]: encoder.encode(this.keyId),
          [FORMAT_META]: encoder.encode(FORMAT_BOUND),
        },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || decoder.decode(encoding) !== ENCRYPTED_ENCODING) {
        // Whoever can write to the namespace could otherwise bypass the encryption with a plaintext input.
        if (this.options.allowPlaintext) return payload;
        throw new PayloadCodecError('unencrypted payload refused: this worker or client holds PAYLOAD_CODEC_KEY (PAYLOAD_CODEC_ALLOW_PLAINTEXT=1 accepts them during a migration)');
      }
      const keyId = payload.metadata?.[KEY_ID_META] ? decoder.decode(payload.metadata[KEY_ID_META]).slice(0, 64) : '';
      if (keyId !== this.keyId) throw new PayloadCodecError(`payload was encrypted with key "${keyId}", this codec holds "${this.keyId}"`);
      const format = payload.metadata?.[FORMAT_META] ? decoder.decode(payload.metadata[FORMAT_META]) : '';
      if (format !== FORMAT_BOUND && !(format === '' && this.options.allowUnbound)) {
        throw new PayloadCodecError('encrypted payload is not bound to its key id (PAYLOAD_CODEC_ALLOW_UNBOUND=1 reads ciphertext from before the binding)');
      }
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadCodecError('encrypted payload is truncated');
      try {
        const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, IV_BYTES));
        if (format === FORMAT_BOUND) decipher.setAAD(aad(keyId));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        return deserialize(plain);
      } catch {
        throw new PayloadCodecError('encrypted payload does not authenticate under this key and key id');
      }
    });
  }
}

const on = (v: string | undefined): boolean => v === '1' || v === 'true' || v === 'yes';

/**
 * The codec from PAYLOAD_CODEC_KEY (base64 of 32 bytes; or PAYLOAD_CODEC_KEY_FILE, a file holding it) and
 * PAYLOAD_CODEC_KEY_ID, or none when unset; the two migration switches are read here too.
 */
export function codecFromEnv(env: Record<string, string | undefined>): AesGcmCodec | undefined {
  let raw = env.PAYLOAD_CODEC_KEY;
  if (!raw && env.PAYLOAD_CODEC_KEY_FILE) {
    try {
      raw = readFileSync(env.PAYLOAD_CODEC_KEY_FILE, 'utf8').trim();
    } catch (err) {
      throw new Error(`PAYLOAD_CODEC_KEY_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  if (!raw) return undefined;
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new Error('PAYLOAD_CODEC_KEY must be the base64 of exactly 32 random bytes (e.g. `openssl rand -base64 32`)');
  return new AesGcmCodec(key, env.PAYLOAD_CODEC_KEY_ID ?? 'default', { allowPlaintext: on(env.PAYLOAD_CODEC_ALLOW_PLAINTEXT), allowUnbound: on(env.PAYLOAD_CODEC_ALLOW_UNBOUND) });
}

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { DefaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, ENCRYPTED_ENCODING, codecFromEnv } from '../../src/codec/aes-gcm';
import { startCodecServer } from '../../src/codec/server';

const converter = new DefaultPayloadConverter();

test('payloads round-trip through AES-GCM and the ciphertext does not contain the plaintext', async () => {
  const codec = new AesGcmCodec(randomBytes(32), 'k1');
  const secret = { clientId: 'c1', certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----' };
  const plain = converter.toPayload(secret);
  const [encrypted] = await codec.encode([plain]);
  assert.equal(Buffer.from(encrypted.metadata!.encoding!).toString(), ENCRYPTED_ENCODING);
  assert.ok(!Buffer.from(encrypted.data!).toString('latin1').includes('BEGIN CERTIFICATE'));
  const [decoded] = await codec.decode([encrypted]);
  assert.deepEqual(converter.fromPayload(decoded), secret);
  // Two encryptions of the same payload differ (fresh IV each time).
  const [again] = await codec.encode([plain]);
  assert.notDeepEqual(Buffer.from(again.data!), Buffer.from(encrypted.data!));
});

test('tampered ciphertext, a wrong key and a wrong key id are refused', async () => {
  const key = randomBytes(32);
  const codec = new AesGcmCodec(key, 'k1');
  const [enc] = await codec.encode([converter.toPayload('hello')]);
  const tampered = { ...enc, data: Buffer.from(enc.data!) };
  tampered.data[20] ^= 0xff;
  await assert.rejects(codec.decode([tampered]));
  await assert.rejects(new AesGcmCodec(randomBytes(32), 'k1').decode([enc]));
  await assert.rejects(new AesGcmCodec(key, 'k2').decode([enc]), /encrypted with key "k1"/);
  // Unencrypted payloads pass through untouched (history written before the codec was enabled).
  const plain = converter.toPayload({ a: 1 });
  assert.deepEqual(await codec.decode([plain]), [plain]);
});

test('codecFromEnv reads a base64 32-byte key and rejects anything else', () => {
  assert.equal(codecFromEnv({}), undefined);
  assert.ok(codecFromEnv({ PAYLOAD_CODEC_KEY: randomBytes(32).toString('base64') }) instanceof AesGcmCodec);
  assert.throws(() => codecFromEnv({ PAYLOAD_CODEC_KEY: randomBytes(16).toString('base64') }), /32/);
});

test('the codec server decodes for the UI and refuses malformed requests', async () => {
  const codec = new AesGcmCodec(randomBytes(32), 'k1');
  const server = await startCodecServer({ codec, port: 0, uiOrigin: 'http://127.0.0.1:8233' });
  try {
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const [enc] = await codec.encode([converter.toPayload({ status: 'finalized' })]);
    const wire = {
      payloads: [
        {
          metadata: Object.fromEntries(Object.entries(enc.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
          data: Buffer.from(enc.data!).toString('base64'),
        },
      ],
    };
    const res = await fetch(`${base}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(wire) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8233');
    const body = (await res.json()) as { payloads: Array<{ data: string }> };
    assert.deepEqual(JSON.parse(Buffer.from(body.payloads[0].data, 'base64').toString()), { status: 'finalized' });
    const bad = await fetch(`${base}/decode`, { method: 'POST', body: 'not json' });
    assert.equal(bad.status, 400);
    await bad.text();
    const missing = await fetch(`${base}/other`, { method: 'POST', body: '{}' });
    assert.equal(missing.status, 404);
    await missing.text();
  } finally {
    await new Promise((r) => server.close(r));
  }
});

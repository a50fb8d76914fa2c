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
  // Unencrypted payloads are refused by a codec that holds a key: a namespace user cannot bypass the encryption.
  const plain = converter.toPayload({ a: 1 });
  await assert.rejects(codec.decode([plain]), /unencrypted payload refused.*PAYLOAD_CODEC_ALLOW_PLAINTEXT/);
  // ... unless the documented migration switch is on (history written before the codec was enabled).
  assert.deepEqual(await new AesGcmCodec(key, 'k1', { allowPlaintext: true }).decode([plain]), [plain]);
  assert.deepEqual(await codecFromEnv({ PAYLOAD_CODEC_KEY: key.toString('base64'), PAYLOAD_CODEC_KEY_ID: 'k1', PAYLOAD_CODEC_ALLOW_PLAINTEXT: '1' })!.decode([plain]), [plain]);
});

test('the ciphertext is bound to its key id: relabelled to another id under the same key, it does not decrypt', async () => {
  const key = randomBytes(32);
  const [enc] = await new AesGcmCodec(key, 'k1').encode([converter.toPayload('bound')]);
  assert.equal(Buffer.from(enc.metadata!['encryption-format']!).toString(), 'aes-256-gcm/aad-v1');
  const relabelled = { ...enc, metadata: { ...enc.metadata, 'encryption-key-id': Buffer.from('k2') } };
  await assert.rejects(new AesGcmCodec(key, 'k2').decode([relabelled]), /does not authenticate/);
  // Without the format mark (ciphertext from before the binding) it is refused unless the migration switch is on.
  const unmarked = { ...enc, metadata: { ...enc.metadata } };
  delete unmarked.metadata['encryption-format'];
  await assert.rejects(new AesGcmCodec(key, 'k1').decode([unmarked]), /not bound to its key id/);
});

test('ciphertext from before the AAD binding decodes only with PAYLOAD_CODEC_ALLOW_UNBOUND', async () => {
  const key = randomBytes(32);
  // The old format, produced here by hand: AES-GCM over the serialized payload, no AAD, no format mark.
  const { createCipheriv } = await import('node:crypto');
  const inner = converter.toPayload({ old: true });
  const plainDoc = Buffer.from(JSON.stringify({ m: Object.fromEntries(Object.entries(inner.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), d: Buffer.from(inner.data!).toString('base64') }));
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plainDoc), c.final()]);
  const old = { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), 'encryption-key-id': Buffer.from('k1') }, data: Buffer.concat([iv, body, c.getAuthTag()]) };
  await assert.rejects(new AesGcmCodec(key, 'k1').decode([old]), /PAYLOAD_CODEC_ALLOW_UNBOUND/);
  const [decoded] = await codecFromEnv({ PAYLOAD_CODEC_KEY: key.toString('base64'), PAYLOAD_CODEC_KEY_ID: 'k1', PAYLOAD_CODEC_ALLOW_UNBOUND: '1' })!.decode([old]);
  assert.deepEqual(converter.fromPayload(decoded), { old: true });
});

test('codecFromEnv reads a base64 32-byte key and rejects anything else', () => {
  assert.equal(codecFromEnv({}), undefined);
  assert.ok(codecFromEnv({ PAYLOAD_CODEC_KEY: randomBytes(32).toString('base64') }) instanceof AesGcmCodec);
  assert.throws(() => codecFromEnv({ PAYLOAD_CODEC_KEY: randomBytes(16).toString('base64') }), /32/);
});

test('the codec server decodes for the UI and refuses malformed requests', async () => {
  const codec = new AesGcmCodec(randomBytes(32), 'k1');
  const token = randomBytes(18).toString('hex');
  const server = await startCodecServer({ codec, port: 0, uiOrigin: 'http://127.0.0.1:8233', token });
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
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const res = await fetch(`${base}/decode`, { method: 'POST', headers: { ...auth, origin: 'http://127.0.0.1:8233' }, body: JSON.stringify(wire) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8233');
    const body = (await res.json()) as { payloads: Array<{ data: string }> };
    assert.deepEqual(JSON.parse(Buffer.from(body.payloads[0].data, 'base64').toString()), { status: 'finalized' });
    // The endpoint form the UI's codec setting uses: the token in the path.
    const viaPath = await fetch(`${base}/t/${token}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(wire) });
    assert.equal(viaPath.status, 200);
    await viaPath.text();
    const bad = await fetch(`${base}/decode`, { method: 'POST', headers: auth, body: 'not json' });
    assert.equal(bad.status, 400);
    await bad.text();
    const missing = await fetch(`${base}/other`, { method: 'POST', headers: auth, body: '{}' });
    assert.equal(missing.status, 404);
    await missing.text();
  } finally {
    await new Promise((r) => server.close(r));
  }
});

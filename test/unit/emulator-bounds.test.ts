import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { signDelivery } from '../../src/activities/pki';
import { EmulatorAdmin, startEmulator, type EmulatorHandle } from '../../src/emulator';
import { MAX_BUCKETS, HandshakeTelemetry } from '../../src/emulator/telemetry';
import { MAX_DELIVERIES, WEBHOOK_BODY_LIMIT } from '../../src/emulator/webhook-receiver';
import type { Pin } from '../../src/pins/types';

/** Runs `n` tasks, `width` at a time. */
async function pool(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

describe('emulator stores stay bounded', () => {
  let emu: EmulatorHandle;
  let admin: EmulatorAdmin;

  before(async () => {
    emu = await startEmulator({ rateLimitPerMinute: 0, requestTimeoutMs: 2000 });
    admin = new EmulatorAdmin(emu.url, emu.adminToken);
  });
  after(() => emu.close());

  it('keeps 1,000 unauthenticated 500 KB posts as small summaries only', async () => {
    const big = 'x'.repeat(500 * 1024);
    const statuses = new Map<number, number>();
    await pool(1000, 8, async (i) => {
      const res = await fetch(`${emu.url}/pki/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer not-the-token', 'idempotency-key': `k-${i}-${'y'.repeat(2000)}` },
        body: big,
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    });
    assert.deepEqual([...statuses], [[401, 1000]]);
    const { deliveries } = await admin.webhooks();
    assert.ok(deliveries.length <= MAX_DELIVERIES);
    assert.ok(deliveries.every((d) => d.summary === true && d.body === null && d.refusal === 'token' && d.bodyBytes === big.length));
    // What the receiver holds for 500 MB received: the whole list is well under a MB (keys truncated too).
    const held = JSON.stringify(deliveries).length;
    assert.ok(held < 1_000_000, `${held} bytes held`);
    assert.ok(deliveries.every((d) => (d.idempotencyKey ?? '').length <= 129));
  });

  it('answers 413 to a body over 1 MiB from a valid sender, and keeps no body', async () => {
    const raw = JSON.stringify({ event: 'certificate_rotation', pad: 'z'.repeat(WEBHOOK_BODY_LIMIT) });
    const ts = Math.floor(Date.now() / 1000);
    const res = await fetch(`${emu.url}/pki/webhook`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.pkiToken}`, 'idempotency-key': 'a:b:certificate_rotation', 'x-signature-timestamp': String(ts), 'x-signature-256': signDelivery(emu.pkiSecret, ts, 'a:b:certificate_rotation', raw) },
      body: raw,
    });
    assert.equal(res.status, 413);
    const last = (await admin.webhooks()).deliveries.at(-1);
    assert.equal(last?.refusal, 'too_large');
    assert.equal(last?.body, null);
  });

  it('cuts a body that trickles in (slow sender) within seconds', async () => {
    const started = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect(emu.port, '127.0.0.1', () => {
        socket.write(`POST /pki/webhook HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${emu.pkiToken}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{`);
      });
      const drip = setInterval(() => socket.write(' '), 200);
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
      socket.on('close', () => {
        clearInterval(drip);
        resolve(data.split('\r\n')[0] || 'closed');
      });
      socket.on('error', () => undefined);
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 8000, `cut after ${elapsed} ms`);
    assert.ok(outcome === 'closed' || /^HTTP\/1\.1 40[08]/.test(outcome), outcome);
  });

  it('keeps per-client handshake buckets bounded with exact totals', () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const telemetry = new HandshakeTelemetry(() => clock);
    const pin: Pin = { role: 'primary', sha256Spki: 'A'.repeat(43) + '=', sha256Certificate: 'B'.repeat(43) + '=', notAfter: '2027-01-01T00:00:00Z', serialNumber: '01', subject: 'CN=c1' };
    const seconds = MAX_BUCKETS * 3;
    for (let i = 0; i < seconds; i += 1) {
      telemetry.record('c1', pin);
      if (i % 2 === 0) telemetry.record('c1', undefined);
      clock += 1000;
    }
    assert.equal(telemetry.bucketCount('c1'), MAX_BUCKETS);
    const all = telemetry.summary('c1', 0, [pin]);
    assert.equal(all.accepted, seconds);
    assert.equal(all.rejected, seconds / 2);
    // A recent window is exact: the last 10 seconds hold 10 accepted handshakes.
    const recent = telemetry.summary('c1', clock - 10_000, [pin]);
    assert.equal(recent.accepted, 10);
    assert.equal(recent.byPin[0].lastSeen, new Date(clock - 1000).toISOString());
  });
});

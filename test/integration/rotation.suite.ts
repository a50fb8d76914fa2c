import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRotation, waitForRotation } from '../../src/starter';
import { auditRecords, FAST_RETRY, harness, issue, seedClient } from './harness';
import { certificatesOnly } from '../../src/pins/certificates-only';

/** Happy paths: the platform state, the webhooks and the audit line a user would look at. */
export function rotationSuite(): void {
  test('a rotation with overlap 0s finalizes with only the new primary, signed webhooks and one audit line', { timeout: 120_000 }, async () => {
    const h = harness();
    const id = 'happy-1';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const before = await h.admin.getClient(id);

    const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', serviceId: 'svc-happy', retry: FAST_RETRY }, h.taskQueue);
    const result = await waitForRotation(handle, { untilOverlap: false, pollMs: 100 });

    assert.equal(result.status, 'finalized');
    // Measured from the gateway's handshakes since Apply: this client made none, so there is no rate.
    assert.equal(result.pinMatchRate, null);
    assert.ok(typeof result.latencyMs === 'number' && result.latencyMs >= 0);
    const after = await h.admin.getClient(id);
    assert.deepEqual(
      after.pins.map((p) => [p.role, p.sha256Spki, p.sha256Certificate]),
      [['primary', next.info.sha256Spki, next.info.sha256Certificate]],
    );
    // The platform holds the input's certificate blocks re-framed (DESIGN.md §4 Bounds): same certificates, LF lines.
    assert.equal(after.certificateChain, certificatesOnly(next.certificatePem).pem);
    // Apply and finalize: exactly two writes.
    assert.equal(after.version, before.version + 2);
    // The fallback really was the old primary during the overlap.
    const applied = after.versions.find((v) => v.version === before.version + 1);
    assert.ok(applied);
    assert.deepEqual(
      applied.pins.map((p) => [p.role, p.sha256Spki]),
      [
        ['primary', next.info.sha256Spki],
        ['fallback', seeded.spki],
      ],
    );

    const { deliveries } = await h.admin.webhooks();
    const mine = deliveries.filter((d) => (d.body as { clientId?: string } | null)?.clientId === id);
    assert.deepEqual(
      mine.map((d) => (d.body as { event: string }).event),
      ['certificate_rotation', 'rotation_finalized'],
    );
    for (const d of mine) {
      assert.equal(d.signatureValid, true);
      assert.equal(d.duplicate, false);
      const body = d.body as { event: string; runId: string };
      // DESIGN.md §3: the run is in the key, so a client's next rotation is never taken for a repeat of this one.
      assert.equal(d.idempotencyKey, `pin-rotation-${id}:${body.runId}:${body.event}`);
      assert.equal((d.body as { serviceId: string }).serviceId, 'svc-happy');
    }

    const records = auditRecords().filter((r) => r.clientId === id);
    assert.equal(records.length, 1);
    assert.equal(records[0].status, 'finalized');
    assert.equal(records[0].workflowId, `pin-rotation-${id}`);
    assert.equal(records[0].pins[0].sha256Spki, next.info.sha256Spki);
    assert.equal(records[0].pinMatchRate, null);
    assert.equal(records[0].errorCode, null);
  });

  test('a client with a backup pin keeps it through the rotation (three pins during the overlap)', { timeout: 120_000 }, async () => {
    const h = harness();
    const id = 'backup-1';
    const seeded = await seedClient(id, { backup: true });
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, h.taskQueue);
    const result = await waitForRotation(handle, { untilOverlap: false, pollMs: 100 });
    assert.equal(result.status, 'finalized');
    const after = await h.admin.getClient(id);
    const applied = after.versions.find((v) => v.version === before.version + 1);
    assert.equal(applied?.pins.length, 3);
    assert.deepEqual(after.pins.map((p) => p.role).sort(), ['backup', 'primary']);
    assert.equal(after.pins.find((p) => p.role === 'backup')?.sha256Spki, seeded.pins[1].sha256Spki);
  });
}

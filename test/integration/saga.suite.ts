import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { RotationAlreadyRunningError, queryStatus, rotationHandle, signalRotation, startRotation, waitForRotation } from '../../src/starter';
import type { EmulatorStats } from '../../src/emulator/types';
import type { RotationInput, RotationResult } from '../../src/contract';
import { RotationStatusKey, rotationResultOfFailure } from '../../src/contract';
import { approvalFor } from '../../src/approvals/sign';
import { auditRecords, FAST_RETRY, harness, issue, seedClient, testApprovers } from './harness';

/** Workflow ids of every rotation these suites ran, for the replay test. */
export const recordedWorkflowIds: string[] = [];

const T = { timeout: 120_000 };

/** Requests the emulator answered on `route` with `status` between two stats snapshots. */
function requestsBetween(before: EmulatorStats, after: EmulatorStats, route: string, status: string): number {
  return (after.requests[route]?.[status] ?? 0) - (before.requests[route]?.[status] ?? 0);
}

function pinKeys(pins: Array<{ role: string; sha256Spki: string; sha256Certificate: string }>): string[] {
  return pins.map((p) => `${p.role}:${p.sha256Spki}:${p.sha256Certificate}`).sort();
}

async function start(input: Omit<RotationInput, 'retry'> & { retry?: RotationInput['retry'] }) {
  const h = harness();
  const handle = await startRotation(h.client, { retry: FAST_RETRY, ...input }, h.taskQueue);
  recordedWorkflowIds.push(handle.workflowId);
  return handle;
}

async function run(input: Omit<RotationInput, 'retry'> & { retry?: RotationInput['retry'] }): Promise<RotationResult> {
  const handle = await start(input);
  return waitForRotation(handle, { untilOverlap: false, pollMs: 100 });
}

/** Asserts the client holds exactly the chain and pins it was seeded with. */
async function assertUnchanged(id: string, seeded: { certificatePem: string; pins: Array<{ role: string; sha256Spki: string; sha256Certificate: string }> }, version: number) {
  const now = await harness().admin.getClient(id);
  assert.equal(now.version, version, 'version unchanged: nothing was written');
  assert.equal(now.certificateChain, seeded.certificatePem);
  assert.deepEqual(pinKeys(now.pins), pinKeys(seeded.pins));
}

async function assertRestored(id: string, seeded: { certificatePem: string; pins: Array<{ role: string; sha256Spki: string; sha256Certificate: string }> }) {
  const now = await harness().admin.getClient(id);
  // Byte for byte: the restore writes back exactly the chain and pins read in preflight.
  assert.equal(now.certificateChain, seeded.certificatePem);
  assert.deepEqual(pinKeys(now.pins), pinKeys(seeded.pins));
  return now;
}

function eventsFor(deliveries: Array<{ body: unknown; status: number }>, id: string): string[] {
  return deliveries.filter((d) => (d.body as { clientId?: string } | null)?.clientId === id && d.status >= 200 && d.status < 300).map((d) => (d.body as { event: string }).event);
}

export function sagaSuite(): void {
  test('a 429 with Retry-After is waited out (never sooner) and the rotation then succeeds', T, async () => {
    const h = harness();
    const id = 'rl-429';
    await seedClient(id);
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    const stats0 = await h.admin.stats();
    await h.admin.addFault({ method: 'GET', pathPrefix: `/api/v2/oauth/clients/${id}`, status: 429, times: 1, retryAfter: 2 });
    const t0 = Date.now();
    const result = await run({ clientId: id, certificatePem: next.certificatePem, overlap: '0s' });
    assert.equal(result.status, 'finalized');
    const after = await h.admin.getClient(id);
    const applied = after.versions.find((v) => v.version === before.version + 1);
    assert.ok(applied);
    // The first GET was answered 429 right after t0; the apply can only come after the 2 s it asked for.
    assert.ok(Date.parse(applied.modifiedAt) - t0 >= 2000, `applied ${Date.parse(applied.modifiedAt) - t0} ms after start`);
    const stats1 = await h.admin.stats();
    assert.equal(stats1.rateLimited429 - stats0.rateLimited429, 1);
    assert.equal(after.pins[0].sha256Spki, next.info.sha256Spki);
  });

  test('PATCH answered 503 three times is retried with backoff and then succeeds', T, async () => {
    const h = harness();
    const id = 'patch-503';
    await seedClient(id);
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    const key = 'PATCH /api/v2/oauth/clients/{id}';
    const s0 = (await h.admin.stats()).requests[key]?.['503'] ?? 0;
    await h.admin.addFault({ method: 'PATCH', pathPrefix: `/api/v2/oauth/clients/${id}`, status: 503, times: 3 });
    const result = await run({ clientId: id, certificatePem: next.certificatePem, overlap: '0s' });
    assert.equal(result.status, 'finalized');
    const s1 = (await h.admin.stats()).requests[key]?.['503'] ?? 0;
    assert.equal(s1 - s0, 3);
    const after = await h.admin.getClient(id);
    assert.equal(after.version, before.version + 2);
    assert.deepEqual(pinKeys(after.pins), pinKeys([{ role: 'primary', sha256Spki: next.info.sha256Spki, sha256Certificate: next.info.sha256Certificate }]));
  });

  test('the PKI manager refusing the rotation (400) rolls back to the exact previous chain and pins', T, async () => {
    const h = harness();
    const id = 'pki-400';
    const seeded = await seedClient(id, { backup: true });
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    await h.admin.failWebhooks({ status: 400, times: 1 });
    const result = await run({ clientId: id, certificatePem: next.certificatePem, overlap: '0s' });
    assert.equal(result.status, 'rolled_back');
    assert.equal(result.error?.code, 'PkiRejected');
    const after = await assertRestored(id, seeded);
    assert.equal(after.version, before.version + 2, 'apply, then restore');
    const { deliveries } = await h.admin.webhooks();
    assert.deepEqual(eventsFor(deliveries, id), ['rotation_rolled_back']);
    const audit = auditRecords().filter((r) => r.workflowId === result.workflowId && r.status === 'rolled_back');
    assert.equal(audit.length, 1);
    assert.equal(audit[0].errorCode, 'PkiRejected');
  });

  test('a rollback signal during the overlap restores the previous pins', T, async () => {
    const h = harness();
    const id = 'rollback-overlap';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const handle = await start({ clientId: id, certificatePem: next.certificatePem, overlap: '1h' });
    const mid = await waitForRotation(handle, { untilOverlap: true, pollMs: 100 });
    assert.equal(mid.status, 'rotated');
    const during = await h.admin.getClient(id);
    assert.deepEqual(during.pins.map((p) => p.role), ['primary', 'fallback']);
    await signalRotation(h.client, id, 'rollback', { reason: 'test says no' });
    const result = await handle.result();
    assert.equal(result.status, 'rolled_back');
    assert.equal(result.error?.code, 'ROLLBACK_REQUESTED');
    await assertRestored(id, seeded);
    const { deliveries } = await h.admin.webhooks();
    assert.deepEqual(eventsFor(deliveries, id), ['certificate_rotation', 'rotation_rolled_back']);
  });

  test('cancelling during the overlap compensates before the workflow ends as cancelled', T, async () => {
    const h = harness();
    const id = 'cancel-overlap';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const handle = await start({ clientId: id, certificatePem: next.certificatePem, overlap: '1h' });
    await waitForRotation(handle, { untilOverlap: true, pollMs: 100 });
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    // Read from the server's record, not a query: a closed workflow needs a worker to replay it to answer one.
    const described = await handle.describe();
    assert.equal(described.status.name, 'CANCELLED');
    assert.equal(described.typedSearchAttributes.get(RotationStatusKey), 'rolled_back');
    await assertRestored(id, seeded);
    const { deliveries } = await h.admin.webhooks();
    assert.deepEqual(eventsFor(deliveries, id), ['certificate_rotation', 'rotation_rolled_back']);
  });

  test('finalizeNow ends the overlap at once with only the new primary', T, async () => {
    const h = harness();
    const id = 'finalize-now';
    await seedClient(id);
    const next = await issue(id);
    const handle = await start({ clientId: id, certificatePem: next.certificatePem, overlap: '7d' });
    await waitForRotation(handle, { untilOverlap: true, pollMs: 100 });
    await signalRotation(h.client, id, 'finalizeNow');
    const result = await handle.result();
    assert.equal(result.status, 'finalized');
    const after = await h.admin.getClient(id);
    assert.deepEqual(after.pins.map((p) => [p.role, p.sha256Spki]), [['primary', next.info.sha256Spki]]);
  });

  test('an approval that never comes aborts with nothing changed; an approved one applies', T, async () => {
    const h = harness();
    const id = 'approval';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    const timedOut = await run({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', approval: { required: true, timeout: '1s' } });
    assert.equal(timedOut.status, 'refused');
    assert.equal(timedOut.error?.code, 'APPROVAL_TIMEOUT');
    await assertUnchanged(id, seeded, before.version);

    const handle = await start({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', approval: { required: true, timeout: '1h' } });
    for (let i = 0; i < 100; i += 1) {
      const s = await queryStatus(handle).catch(() => undefined);
      if (s?.phase === 'awaiting_approval') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await assertUnchanged(id, seeded, before.version);
    await signalRotation(h.client, id, 'approve', { approval: approvalFor(await queryStatus(handle), 'alice', testApprovers.alice.key) });
    const approved = await handle.result();
    assert.equal(approved.status, 'finalized');
  });

  test('a dry run plans and changes nothing', T, async () => {
    const h = harness();
    const id = 'dry-run';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    const result = await run({ clientId: id, certificatePem: next.certificatePem, dryRun: true });
    assert.equal(result.status, 'dry_run');
    assert.deepEqual(result.plannedPins?.map((p) => [p.role, p.sha256Spki]), [
      ['primary', next.info.sha256Spki],
      ['fallback', seeded.spki],
    ]);
    await assertUnchanged(id, seeded, before.version);
    const { deliveries } = await h.admin.webhooks();
    assert.deepEqual(eventsFor(deliveries, id), []);
  });

  test('an invalid certificate is refused with its code and nothing is written', T, async () => {
    const h = harness();
    const id = 'weak-key';
    const seeded = await seedClient(id);
    const weak = await h.admin.issueCertificate({ commonName: id, keyType: 'rsa-1024' });
    const before = await h.admin.getClient(id);
    const result = await run({ clientId: id, certificatePem: weak.certificatePem, overlap: '0s' });
    assert.equal(result.status, 'refused');
    assert.equal(result.error?.code, 'KEY_TOO_WEAK');
    await assertUnchanged(id, seeded, before.version);
    const audit = auditRecords().filter((r) => r.workflowId === result.workflowId && r.status === 'refused');
    assert.ok(audit.some((r) => r.errorCode === 'KEY_TOO_WEAK'));
  });

  test('clients that are missing, inactive or without mTLS are refused before anything changes', T, async () => {
    const next = await issue('whoever');
    const missing = await run({ clientId: 'no-such-client', certificatePem: next.certificatePem });
    assert.equal(missing.status, 'refused');
    assert.equal(missing.error?.code, 'CLIENT_NOT_FOUND');
    const inactive = await seedClient('inactive-1', { state: 'inactive' });
    const r1 = await run({ clientId: 'inactive-1', certificatePem: next.certificatePem });
    assert.equal(r1.error?.code, 'CLIENT_NOT_ACTIVE');
    await assertUnchanged('inactive-1', inactive, 1);
    const noMtls = await seedClient('no-mtls-1', { mtlsRequired: false });
    const r2 = await run({ clientId: 'no-mtls-1', certificatePem: next.certificatePem });
    assert.equal(r2.error?.code, 'MTLS_NOT_REQUIRED');
    await assertUnchanged('no-mtls-1', noMtls, 1);
  });

  test('two starts for one client: the second is refused while the first runs', T, async () => {
    const h = harness();
    const id = 'twice';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const first = await start({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', approval: { required: true, timeout: '1h' } });
    await assert.rejects(startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, retry: FAST_RETRY }, h.taskQueue), RotationAlreadyRunningError);
    await signalRotation(h.client, id, 'rollback', { reason: 'ending the test' });
    const result = await first.result();
    assert.equal(result.status, 'refused');
    assert.equal(result.error?.code, 'REJECTED');
    await assertUnchanged(id, seeded, 1);
    // Once it has ended, a new rotation of the same client may start.
    const again = await run({ clientId: id, certificatePem: next.certificatePem, overlap: '0s' });
    assert.equal(again.status, 'finalized');
  });

  test('mTLS probes with the new and the old certificate count in pinMatchRate; keys stay on the worker', T, async () => {
    const h = harness();
    const id = 'probe-1';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const newKey = join(h.dir, `${id}-new.key`);
    const oldKey = join(h.dir, `${id}-old.key`);
    writeFileSync(newKey, next.privateKeyPem, { mode: 0o600 });
    writeFileSync(oldKey, seeded.privateKeyPem, { mode: 0o600 });
    const handle = await start({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', probe: { newKeyPath: newKey, oldKeyPath: oldKey } });
    const result = await waitForRotation(handle, { untilOverlap: false, pollMs: 100 });
    assert.equal(result.status, 'finalized');
    assert.equal(result.pinMatchRate, 1);
    const history = JSON.stringify(await rotationHandle(h.client, id).fetchHistory());
    assert.ok(!history.includes('PRIVATE KEY'), 'no key material in the workflow history');
    assert.ok(!history.includes(next.privateKeyPem.split('\n')[1]), 'no key bytes in the workflow history');
  });

  test('a 409 on apply re-reads the client and re-plans once, then applies', T, async () => {
    const h = harness();
    const id = 'conflict-409';
    await seedClient(id);
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    const stats0 = await h.admin.stats();
    await h.admin.addFault({ method: 'PATCH', pathPrefix: `/api/v2/oauth/clients/${id}`, status: 409, times: 1 });
    const result = await run({ clientId: id, certificatePem: next.certificatePem, overlap: '0s' });
    assert.equal(result.status, 'finalized');
    const stats1 = await h.admin.stats();
    assert.equal(requestsBetween(stats0, stats1, 'PATCH /api/v2/oauth/clients/{id}', '409'), 1);
    // One preflight read plus one re-read after the conflict.
    assert.equal(requestsBetween(stats0, stats1, 'GET /api/v2/oauth/clients/{id}', '200'), 2);
    const after = await h.admin.getClient(id);
    assert.equal(after.version, before.version + 2);
    assert.equal(after.pins[0].sha256Spki, next.info.sha256Spki);
  });

  test('two 409s in a row on apply: re-planned once, then the rotation gives up with nothing written', T, async () => {
    const h = harness();
    const id = 'conflict-409-x2';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const before = await h.admin.getClient(id);
    const stats0 = await h.admin.stats();
    await h.admin.addFault({ method: 'PATCH', pathPrefix: `/api/v2/oauth/clients/${id}`, status: 409, times: 2 });
    const result = await run({ clientId: id, certificatePem: next.certificatePem, overlap: '0s' });
    const stats1 = await h.admin.stats();
    // A PATCH was attempted, so the saga compensates: it finds none of our writes on the client and writes
    // nothing. The rotation failed and nothing changed.
    assert.equal(result.status, 'failed', JSON.stringify(result.error));
    assert.equal(result.error?.code, 'VersionConflict', JSON.stringify(result.error));
    assert.equal(requestsBetween(stats0, stats1, 'PATCH /api/v2/oauth/clients/{id}', '409'), 2);
    assert.equal(requestsBetween(stats0, stats1, 'PATCH /api/v2/oauth/clients/{id}', '200'), 0);
    // The preflight read, a re-read after each 409 (is it our own write?), and the compensation's read.
    assert.equal(requestsBetween(stats0, stats1, 'GET /api/v2/oauth/clients/{id}', '200'), 1 + 2 + 1);
    const after = await h.admin.getClient(id);
    assert.equal(after.version, before.version);
    assert.equal(after.certificateChain, seeded.certificatePem);
    assert.deepEqual(after.pins, before.pins);
  });

  test('compensation never overwrites another writer: it stops with a clear error and leaves their pins', T, async () => {
    const h = harness();
    const id = 'other-writer';
    await seedClient(id);
    const next = await issue(id);
    const handle = await start({ clientId: id, certificatePem: next.certificatePem, overlap: '1h' });
    await waitForRotation(handle, { untilOverlap: true, pollMs: 100 });
    // Someone else re-pins the client during the overlap.
    const theirs = await seedClient(id);
    const theirVersion = (await h.admin.getClient(id)).version;
    await signalRotation(h.client, id, 'rollback', { reason: 'test' });
    // A failed rotation fails its workflow, carrying its result in the failure details.
    const failure = await handle.result().then(
      () => assert.fail('a failed rotation must fail its workflow'),
      (e: unknown) => e,
    );
    assert.ok(failure instanceof WorkflowFailedError);
    const result = rotationResultOfFailure(failure)!;
    assert.equal(result.status, 'failed');
    assert.equal(result.error?.code, 'COMPENSATION_FAILED');
    assert.match(result.error?.message ?? '', /another writer/);
    await assertUnchanged(id, theirs, theirVersion);
  });
}

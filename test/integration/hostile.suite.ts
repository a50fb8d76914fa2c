import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { AuditRecord } from '../../src/activities/audit';
import { approvalFor, signApprovalClaims, startRequestFor } from '../../src/approvals/sign';
import {
  approveSignal,
  approveUpdate,
  certificateIssuedUpdate,
  rotationWorkflowId,
  statusQuery,
  WORKFLOW_TYPE,
  type RotationInput,
  type RotationResult,
  type RotationStatus,
} from '../../src/contract';
import { run as statusCommand } from '../../src/cli/commands/status';
import { run as terminateCommand } from '../../src/cli/commands/terminate';
import { auditRecords, captureCli, FAST_RETRY, harness, issue, MAPPED_CLIENT, seedClient, testApprovers } from './harness';

/**
 * The attacks of issue 13, replayed by someone with only namespace access: workflows started DIRECTLY with the
 * Temporal client (any input, any workflow id), updates and signals sent by hand. For each: the refusal, an audit
 * line, nothing written to the platform (the emulator's version unchanged), and a normal rotation right after.
 */

const T = { timeout: 180_000 };
const localKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PKCS8 = localKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const JWK = JSON.stringify(localKey.privateKey.export({ format: 'jwk' }));

/** Starts a rotation directly with the Temporal client, as `temporal workflow start` would: no CLI-side checks. */
async function startDirect(input: unknown, workflowId = `hostile-${randomBytes(4).toString('hex')}`): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const h = harness();
  return h.client.workflow.start(WORKFLOW_TYPE, { taskQueue: h.taskQueue, workflowId, args: [input as RotationInput] });
}

async function resultOf(handle: WorkflowHandle): Promise<RotationResult> {
  return (await handle.result()) as RotationResult;
}

/** The activity types a run ran, from its history: activity tasks and local activities (their markers), in order. */
async function activitiesScheduled(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    if (e.activityTaskScheduledEventAttributes) return [e.activityTaskScheduledEventAttributes.activityType?.name ?? '?'];
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_local_activity') return [];
    const data = marker.details?.data?.payloads?.[0]?.data;
    return [data ? ((JSON.parse(Buffer.from(data).toString()) as { activity_type?: string }).activity_type ?? '?') : '?'];
  });
}

async function auditOf(runId: string): Promise<AuditRecord | undefined> {
  for (let i = 0; i < 100; i++) {
    const record = auditRecords().find((r) => r.runId === runId);
    if (record) return record;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/** A refused run: refused with `code`, one audit record, and the client's platform version unchanged. */
async function assertRefused(handle: WorkflowHandleWithFirstExecutionRunId, code: string, clientId: string, version: number): Promise<RotationResult> {
  const result = await resultOf(handle);
  assert.equal(result.status, 'refused', JSON.stringify(result.error));
  assert.equal(result.error?.code, code, result.error?.message);
  const audit = await auditOf(handle.firstExecutionRunId);
  assert.ok(audit, 'an audit record for the refused run');
  assert.equal(audit.status, 'refused');
  assert.equal(audit.errorCode, code);
  assert.equal((await harness().admin.getClient(clientId)).version, version, 'nothing written to the platform');
  return result;
}

/** The worker still serves: a normal rotation of a fresh client finalizes. */
async function normalRotationWorks(tag: string): Promise<void> {
  const id = `hostile-ok-${tag}`;
  await seedClient(id);
  const next = await issue(id);
  const handle = await startDirect({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, rotationWorkflowId(id));
  const result = await resultOf(handle);
  assert.equal(result.status, 'finalized', JSON.stringify(result.error));
  assert.deepEqual((await harness().admin.getClient(id)).pins.map((p) => p.sha256Spki), [next.info.sha256Spki]);
}

async function waitForPhase(handle: WorkflowHandle, phase: RotationStatus['phase']): Promise<RotationStatus> {
  for (let i = 0; i < 300; i++) {
    const s = await handle.query(statusQuery).catch(() => undefined);
    if (s?.phase === phase) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`phase ${phase} not reached`);
}

async function updateRefusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => assert.fail('the update was accepted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
  return err.cause?.message ?? '';
}

export function hostileSuite(): void {
  test('key material in any form is refused inside the workflow before any activity is scheduled', T, async () => {
    const h = harness();
    const id = 'hostile-keys';
    await seedClient(id);
    const version = (await h.admin.getClient(id)).version;
    const cert = await issue(id);
    const attacks: Record<string, string> = {
      pkcs8: cert.certificatePem + PKCS8,
      lowercase: cert.certificatePem + PKCS8.toLowerCase(),
      encrypted: `${cert.certificatePem}-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n`,
      openssh: `${cert.certificatePem}-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n`,
      jwk: `${cert.certificatePem}\n${JWK}\n`,
    };
    for (const [name, pem] of Object.entries(attacks)) {
      const handle = await startDirect({ clientId: id, certificatePem: pem, overlap: '0s', retry: FAST_RETRY }, `hostile-keys-${name}`);
      await assertRefused(handle, 'PRIVATE_KEY_SUPPLIED', id, version);
      assert.deepEqual(await activitiesScheduled(handle), ['writeAudit'], `${name}: only the audit activity ran`);
    }
    const oversized = await startDirect({ clientId: id, certificatePem: cert.certificatePem + `\n${'A'.repeat(300 * 1024)}\n`, retry: FAST_RETRY }, 'hostile-keys-oversized');
    await assertRefused(oversized, 'INPUT_TOO_LARGE', id, version);
    assert.deepEqual(await activitiesScheduled(oversized), ['writeAudit']);

    // The same through certificateIssued (update-with-start's update): refused by the validator, never recorded.
    const running = await startDirect({ clientId: id, certificatePem: cert.certificatePem, approval: { required: true, timeout: '1h' }, retry: FAST_RETRY }, 'hostile-keys-announce');
    await waitForPhase(running, 'awaiting_approval');
    const refused = await updateRefusal(running.executeUpdate(certificateIssuedUpdate, { args: [{ certificatePem: cert.certificatePem + PKCS8.toLowerCase() }] }));
    assert.match(refused, /PRIVATE_KEY_SUPPLIED/);
    const history = JSON.stringify(await running.fetchHistory());
    assert.ok(!history.toLowerCase().includes('private key'), 'the refused announcement is not in history');
    await running.terminate('test done');
    assert.equal((await h.admin.getClient(id)).version, version);
    await normalRotationWorks('keys');
  });

  test('oversized ids, huge durations and inputs of the wrong shape end refused with an audit line (no task-failure loop)', T, async () => {
    const h = harness();
    const id = 'hostile-bounds';
    await seedClient(id);
    const version = (await h.admin.getClient(id)).version;
    const cert = await issue(id);
    const cases: Array<[string, unknown]> = [
      ['long-client-id', { clientId: 'a'.repeat(5000), certificatePem: cert.certificatePem }],
      ['long-service-id', { clientId: id, serviceId: 's'.repeat(5000), certificatePem: cert.certificatePem }],
      ['escape-service-id', { clientId: id, serviceId: 'x\u001b]52;c;ZWNobyBoaQ==\u0007', certificatePem: cert.certificatePem }],
      ['overlap', { clientId: id, certificatePem: cert.certificatePem, overlap: '100000000d' }],
      ['approval-timeout', { clientId: id, certificatePem: cert.certificatePem, approval: { required: true, timeout: '99999999d' } }],
      ['max-overlap', { clientId: id, certificatePem: cert.certificatePem, maxOverlap: '9999d' }],
      ['a-string', 'rotate everything'],
      ['an-array', [1, 2, 3]],
      ['approval-not-object', { clientId: id, certificatePem: cert.certificatePem, approval: 7 }],
    ];
    for (const [name, input] of cases) {
      const handle = await startDirect(input, `hostile-bounds-${name}`);
      const result = await resultOf(handle);
      assert.equal(result.status, 'refused', `${name}: ${JSON.stringify(result.error)}`);
      assert.equal(result.error?.code, 'INVALID_INPUT', name);
      assert.ok(result.clientId.length <= 128, `${name}: the recorded client id is bounded`);
      const audit = await auditOf(handle.firstExecutionRunId);
      assert.ok(audit, `${name}: audited`);
      assert.ok(JSON.stringify(audit).length < 4000, `${name}: the audit line is bounded`);
      assert.ok(!JSON.stringify(audit).includes('\u001b'), `${name}: no control characters in the audit`);
      const described = await handle.describe();
      assert.equal(described.status.name, 'COMPLETED', name);
    }
    assert.equal((await h.admin.getClient(id)).version, version);
    await normalRotationWorks('bounds');
  });

  test("another client's certificate is IDENTITY_MISMATCH; a CERT_IDENTITY_MAP name is accepted for its client only", T, async () => {
    const h = harness();
    const id = 'hostile-idm';
    await seedClient(id);
    const version = (await h.admin.getClient(id)).version;
    const analytics = await issue('hostile-analytics');
    const handle = await startDirect({ clientId: id, certificatePem: analytics.certificatePem, overlap: '0s', retry: FAST_RETRY }, rotationWorkflowId(id));
    await assertRefused(handle, 'IDENTITY_MISMATCH', id, version);
    // The mapped name does not travel to another client.
    const mappedCert = await issue(MAPPED_CLIENT.name);
    const borrowed = await startDirect({ clientId: id, certificatePem: mappedCert.certificatePem, overlap: '0s', retry: FAST_RETRY }, `${rotationWorkflowId(id)}-borrowed`);
    await assertRefused(borrowed, 'IDENTITY_MISMATCH', id, version);
    await seedClient(MAPPED_CLIENT.clientId);
    const mapped = await resultOf(await startDirect({ clientId: MAPPED_CLIENT.clientId, certificatePem: mappedCert.certificatePem, overlap: '0s', retry: FAST_RETRY }, rotationWorkflowId(MAPPED_CLIENT.clientId)));
    assert.equal(mapped.status, 'finalized', JSON.stringify(mapped.error));
    await normalRotationWorks('identity');
  });

  test('approvals: unsigned, untrusted, forged, wrongly bound and self-approvals are refused unrecorded; a second person approves', T, async () => {
    const h = harness();
    const id = 'hostile-approval';
    await seedClient(id);
    const version = (await h.admin.getClient(id)).version;
    const next = await issue(id);
    // Alice signs her start request: the requester is verified, so Alice cannot approve it.
    const workflowId = rotationWorkflowId(id);
    const request = startRequestFor(workflowId, id, next.certificatePem, 'alice', testApprovers.alice.key);
    const handle = await startDirect({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', approval: { required: true, timeout: '1h' }, request, retry: FAST_RETRY }, workflowId);
    const waiting = await waitForPhase(handle, 'awaiting_approval');
    assert.deepEqual(waiting.requester, { id: 'alice', verified: true });

    assert.match(await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory (the requester)' }] })), /must be signed/);
    assert.match(await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor(waiting, 'mallory', testApprovers.mallory.key) }] })), /not trusted/);
    assert.match(await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor(waiting, 'bob', testApprovers.mallory.key) }] })), /does not verify/);
    assert.match(await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor(waiting, 'alice', testApprovers.alice.key) }] })), /four eyes/);
    assert.match(await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor({ ...waiting, plannedPins: waiting.pinsBefore }, 'bob', testApprovers.bob.key) }] })), /other pins/);
    assert.match(await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor({ ...waiting, runId: 'an-old-run' }, 'bob', testApprovers.bob.key) }] })), /another rotation run/);
    const stale = signApprovalClaims(testApprovers.bob.key, { ...approvalFor(waiting, 'bob', testApprovers.bob.key).claims, expiresAt: new Date(Date.now() - 1000).toISOString() });
    assert.match(await updateRefusal(handle.executeUpdate(approveUpdate, { args: [{ approval: stale }] })), /expired/);
    // A signal cannot answer: it is refused and listed, not applied.
    await handle.signal(approveSignal, { by: 'mallory' });
    for (let i = 0; i < 100 && (await handle.query(statusQuery)).refusedActions.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const still = await handle.query(statusQuery);
    assert.equal(still.phase, 'awaiting_approval');
    assert.equal(still.approval, undefined);
    assert.match(still.refusedActions[0]?.reason ?? '', /must be signed/);
    assert.equal((await h.admin.getClient(id)).version, version, 'nothing written before a valid approval');
    const history = JSON.stringify(await handle.fetchHistory());
    assert.ok(!history.includes('an-old-run'), 'refused updates are not in history');

    await handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor(waiting, 'bob', testApprovers.bob.key) }] });
    const result = await resultOf(handle);
    assert.equal(result.status, 'finalized', JSON.stringify(result.error));
    const audit = await auditOf(handle.firstExecutionRunId);
    assert.equal(audit?.requester, 'alice');
    assert.equal(audit?.approver, 'bob');
    const deliveries = (await h.admin.webhooks()).deliveries.filter((d) => (d.body as { workflowId?: string })?.workflowId === workflowId);
    assert.ok(deliveries.length >= 2);
    for (const d of deliveries) assert.deepEqual([(d.body as { requester?: string }).requester, (d.body as { approver?: string }).approver], ['alice', 'bob']);

    // A start request signed for another certificate does not verify: refused, nothing changed.
    const other = await issue(id);
    const v2 = (await h.admin.getClient(id)).version;
    const replayed = await startDirect({ clientId: id, certificatePem: other.certificatePem, request, approval: { required: true }, retry: FAST_RETRY }, workflowId);
    await assertRefused(replayed, 'REQUEST_NOT_VERIFIED', id, v2);
  });

  test('probe key paths outside PROBE_KEY_DIR, devices, fifos, /proc and links are refused before Apply; the worker keeps serving', T, async () => {
    const h = harness();
    const id = 'hostile-probe';
    await seedClient(id);
    const version = (await h.admin.getClient(id)).version;
    const next = await issue(id);
    const fifo = join(h.dir, `probe-${randomBytes(3).toString('hex')}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const link = join(h.dir, `probe-${randomBytes(3).toString('hex')}.pem`);
    symlinkSync('/dev/zero', link);
    const paths = ['/dev/zero', fifo, '/proc/self/fd/0', '/proc/self/environ', link, join(h.dir, 'no-such-key.pem'), '/etc/passwd'];
    const messages = new Set<string>();
    for (const [i, path] of paths.entries()) {
      const handle = await startDirect({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', probe: { newKeyPath: path }, retry: FAST_RETRY }, `hostile-probe-${i}`);
      const result = await assertRefused(handle, 'PROBE_INPUT_REFUSED', id, version);
      messages.add(result.error?.message ?? '');
    }
    // One generic refusal: the answer tells nothing about what exists at a path.
    assert.equal(messages.size, 1, [...messages].join(' | '));
    await normalRotationWorks('probe');
  });

  test('an undecodable payload holds no client hostage: status detects it, terminate frees it with an audit line', T, async () => {
    const h = harness();
    const id = 'hostile-garbage';
    await seedClient(id);
    const version = (await h.admin.getClient(id)).version;
    const workflowId = rotationWorkflowId(id);
    const started = await h.client.workflowService.startWorkflowExecution({
      namespace: h.client.options.namespace,
      workflowId,
      workflowType: { name: WORKFLOW_TYPE },
      taskQueue: { name: h.taskQueue },
      input: { payloads: [{ metadata: { encoding: Buffer.from('binary/garbage') }, data: randomBytes(64) }] },
      requestId: randomBytes(8).toString('hex'),
      identity: 'hostile-suite',
    });
    const runId = started.runId ?? '';
    const flags = ['--client', id, '--address', h.env.address, '--task-queue', h.taskQueue, '--json'];
    let stuck: { stuck?: { attempts: number; lastFailure: string | null } | null } = {};
    for (let i = 0; i < 120 && !stuck.stuck; i++) {
      const out = await captureCli(() => statusCommand(flags));
      stuck = JSON.parse(out.out.trim().split('\n').pop() ?? '{}') as typeof stuck;
      if (!stuck.stuck) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(stuck.stuck, 'status reports the rotation as stuck');
    assert.ok(stuck.stuck.attempts >= 2);
    const terminated = await captureCli(() => terminateCommand([...flags, '--reason', 'undecodable input']));
    assert.equal(terminated.code, 0, terminated.out);
    assert.deepEqual(JSON.parse(terminated.out.trim()), { clientId: id, workflowId, runId, terminated: true, audited: true });
    const audit = await auditOf(runId);
    assert.equal(audit?.status, 'terminated');
    assert.match(audit?.error ?? '', /undecodable input/);
    assert.equal((await h.admin.getClient(id)).version, version, 'nothing written to the platform');
    // The client is free again: a real rotation starts under the same id and finalizes.
    const next = await issue(id);
    const result = await resultOf(await startDirect({ clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, workflowId));
    assert.equal(result.status, 'finalized', JSON.stringify(result.error));
  });
}

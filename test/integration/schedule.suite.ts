import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ScheduleNotFoundError } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowNotFoundError } from '@temporalio/common';
import { run as scheduleCommand } from '../../src/cli/commands/schedule';
import { UsageError } from '../../src/cli/usage';
import { pinFromInfo } from '../../src/pins/digest';
import { decideOnDemand, decideRenewal } from '../../src/schedules/renewal';
import { createRotationSchedule, deleteRotationSchedule, describeRotationSchedule, triggerRotationSchedule, type ScheduledActionView } from '../../src/schedules/client';
import { ALREADY_RUNNING_REASON, rotationScheduleId, SCHEDULED_WORKFLOW_TYPE, type ScheduledRotationInput, type ScheduledRotationResult } from '../../src/contract';
import { rotationHandle, signalRotation } from '../../src/starter';
import { ClientIdKey, ServiceIdKey } from '../../src/contract';
import type { RotationResult } from '../../src/contract';
import { auditRecords, FAST_RETRY, harness, issue, seedClient } from './harness';
import { recordedWorkflowIds } from './saga.suite';

const T = { timeout: 60_000 };

/** Polls until `probe` returns a value (never a fixed sleep); fails with `what` after `timeoutMs`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
}

/** The `n`th run (1-based) the client's schedule took, once it has completed. */
async function completedRun(clientId: string, n: number): Promise<ScheduledActionView> {
  const run = await waitFor(`run ${n} of the schedule of ${clientId} to complete`, async () => {
    const { recentActions } = await describeRotationSchedule(harness().client, clientId);
    const action = recentActions[n - 1];
    return action?.workflowStatus === 'COMPLETED' ? action : undefined;
  });
  recordedWorkflowIds.push(run.workflowId);
  if (run.rotation) recordedWorkflowIds.push(run.rotation.workflowId);
  return run;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const code = await scheduleCommand(args, { stdout: { write: (c: string) => (out.stdout += c) }, stderr: { write: (c: string) => (out.stderr += c) } });
  return { code, ...out };
}

function target(): string[] {
  const h = harness();
  return ['--address', h.env.address, '--task-queue', h.taskQueue];
}

/** A scheduled run started directly, as a second schedule of the same client would start it. */
async function runDirectly(input: ScheduledRotationInput): Promise<ScheduledRotationResult> {
  const h = harness();
  const workflowId = `scheduled-rotation-${input.clientId}-direct-${randomBytes(3).toString('hex')}`;
  recordedWorkflowIds.push(workflowId);
  return h.client.workflow.execute<(i: ScheduledRotationInput) => Promise<ScheduledRotationResult>>(SCHEDULED_WORKFLOW_TYPE, {
    taskQueue: h.taskQueue,
    workflowId,
    args: [{ retry: FAST_RETRY, ...input }],
  });
}

export function scheduleSuite(): void {
  test('the renewal decision: expiry window, a changed source, an unrenewed source, nothing to do', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const cert = (sha: string, notAfter: string) => ({ subject: 'CN=x', serialNumber: sha, notAfter, sha256Certificate: sha });
    const far = cert('A', '2027-01-01T00:00:00Z');
    const near = cert('A', '2026-01-20T00:00:00Z');
    const window = 30 * 86_400_000;
    assert.equal(decideRenewal(null, far, window, now).code, 'NO_DEPLOYED_CERTIFICATE');
    assert.deepEqual([decideRenewal(near, cert('B', '2027-01-01T00:00:00Z'), window, now)].map((d) => [d.decision, d.code]), [['rotate', 'EXPIRES_SOON']]);
    assert.deepEqual([decideRenewal(far, cert('B', '2027-06-01T00:00:00Z'), window, now)].map((d) => [d.decision, d.code]), [['rotate', 'SOURCE_CHANGED']]);
    assert.deepEqual([decideRenewal(near, near, window, now)].map((d) => [d.decision, d.code]), [['refuse', 'SOURCE_NOT_RENEWED']]);
    assert.deepEqual([decideRenewal(far, far, window, now)].map((d) => [d.decision, d.code]), [['no_op', 'UP_TO_DATE']]);
    assert.deepEqual([null, near, far].map((d) => decideOnDemand(d, window, now)).map((d) => [d.decision, d.code]), [
      ['rotate', 'NO_DEPLOYED_CERTIFICATE'],
      ['rotate', 'EXPIRES_SOON'],
      ['no_op', 'UP_TO_DATE'],
    ]);
  });

  test('a triggered emulator-ca schedule rotates the client: new primary on the platform, run ends rotation_started', T, async () => {
    const h = harness();
    const id = 'sched-rotate';
    const seeded = await seedClient(id);
    await createRotationSchedule(h.client, { clientId: id, certSource: 'emulator-ca', spec: { every: '24h' }, overlap: '0s', serviceId: 'billing', retry: FAST_RETRY, taskQueue: h.taskQueue });
    const triggered = await cli(['trigger', '--client', id, '--json', ...target()]);
    assert.equal(triggered.code, 0, triggered.stderr);
    assert.deepEqual(JSON.parse(triggered.stdout), { scheduleId: rotationScheduleId(id), clientId: id, triggered: true });

    const after = await waitFor('a new primary on the platform', async () => {
      const c = await h.admin.getClient(id);
      return c.pins.length === 1 && c.pins[0].role === 'primary' && c.pins[0].sha256Spki !== seeded.spki ? c : undefined;
    });
    const run = await completedRun(id, 1);
    assert.equal(run.outcome, 'rotation_started');
    // The seeded certificate lives 30 days, inside the default 30-day renewal window.
    assert.equal(run.code, 'EXPIRES_SOON');
    assert.match(run.workflowId, /^scheduled-rotation-sched-rotate-/);
    assert.ok(run.rotation);
    assert.equal(run.rotation.workflowId, `pin-rotation-${id}`);
    const rotation = (await h.client.workflow.getHandle(run.rotation.workflowId, run.rotation.runId).result()) as RotationResult;
    assert.equal(rotation.status, 'finalized');
    assert.equal(rotation.serviceId, 'billing');
    assert.deepEqual(rotation.pins.map((p) => p.sha256Spki), [after.pins[0].sha256Spki]);

    // What the Temporal UI shows for the scheduled run: typed search attributes and the memo.
    const described = await h.client.workflow.getHandle(run.workflowId, run.runId).describe();
    assert.equal(described.typedSearchAttributes.get(ClientIdKey), id);
    assert.equal(described.typedSearchAttributes.get(ServiceIdKey), 'billing');
    assert.equal(described.memo?.certSource, 'emulator-ca');
    assert.equal(await described.staticSummary(), `Scheduled pin rotation check of ${id}`);

    // `describe` tells the run's outcome and where its rotation ended.
    const shown = await cli(['describe', '--client', id, '--json', ...target()]);
    assert.equal(shown.code, 0, shown.stderr);
    const details = JSON.parse(shown.stdout);
    assert.equal(details.recentActions.length, 1);
    assert.equal(details.recentActions[0].outcome, 'rotation_started');
    assert.equal(details.recentActions[0].rotation.status, 'finalized');
    const text = await cli(['describe', '--client', id, ...target()]);
    assert.match(text.stdout, /rotation_started \(EXPIRES_SOON\)/);
    assert.match(text.stdout, /rotation pin-rotation-sched-rotate \(run [^)]+\): finalized/);
    assert.ok(auditRecords().some((r) => r.workflowId === `pin-rotation-${id}` && r.status === 'finalized'));
    await deleteRotationSchedule(h.client, id);
  });

  test('a run while a rotation of the client is in its overlap is skipped and changes nothing', T, async () => {
    const h = harness();
    const id = 'sched-skip';
    await seedClient(id);
    // A renewal window longer than any issued certificate lives: every run of this schedule wants to rotate.
    await createRotationSchedule(h.client, { clientId: id, certSource: 'emulator-ca', spec: { every: '24h' }, overlap: '1h', renewWithin: '400d', retry: FAST_RETRY, taskQueue: h.taskQueue });
    await triggerRotationSchedule(h.client, id);
    const first = await completedRun(id, 1);
    assert.equal(first.outcome, 'rotation_started');
    // The scheduled run has ended; its rotation (ABANDON) carries on through the overlap.
    const during = await waitFor('the rotation to reach its overlap', async () => {
      const c = await h.admin.getClient(id);
      return c.pins.map((p) => p.role).join() === 'primary,fallback' ? c : undefined;
    });
    assert.equal((await rotationHandle(h.client, id).describe()).status.name, 'RUNNING');

    await triggerRotationSchedule(h.client, id);
    const second = await completedRun(id, 2);
    assert.equal(second.outcome, 'skipped');
    assert.equal(second.code, 'ALREADY_RUNNING');
    assert.equal(second.reason, ALREADY_RUNNING_REASON);
    assert.equal(second.rotation, undefined);
    // A second schedule of the same client (its runs have other ids) meets the same rule.
    const other = await runDirectly({ clientId: id, certSource: 'emulator-ca', overlap: '0s', renewWithin: '400d' });
    assert.equal(other.outcome, 'skipped');

    const now = await h.admin.getClient(id);
    assert.equal(now.version, during.version, 'nothing written by the skipped runs');
    assert.deepEqual(now.pins, during.pins);
    const audit = auditRecords().find((r) => r.workflowId === second.workflowId);
    assert.equal(audit?.status, 'skipped');
    assert.equal(audit?.errorCode, 'ALREADY_RUNNING');

    await signalRotation(h.client, id, 'finalizeNow');
    assert.equal((await rotationHandle(h.client, id).result()).status, 'finalized');
    await deleteRotationSchedule(h.client, id);
  });

  test('a file: source holding the deployed certificate, far from expiry, is a recorded no_op', T, async () => {
    const h = harness();
    const id = 'sched-noop';
    const cert = await issue(id, 365);
    await h.admin.createClient({ id, name: `client ${id}`, secret: randomBytes(12).toString('hex'), mtlsRequired: true, certificateChain: cert.certificatePem, pins: [pinFromInfo(cert.info, 'primary')] });
    const file = join(h.dir, `${id}.pem`);
    writeFileSync(file, `issued for ${id}\n${cert.certificatePem}`);
    await createRotationSchedule(h.client, { clientId: id, certSource: `file:${file}`, spec: { cron: '0 3 * * *' }, retry: FAST_RETRY, taskQueue: h.taskQueue });
    await triggerRotationSchedule(h.client, id);
    const run = await completedRun(id, 1);
    assert.equal(run.outcome, 'no_op');
    assert.equal(run.code, 'UP_TO_DATE');
    assert.equal((await h.admin.getClient(id)).version, 1, 'nothing written');
    await assert.rejects(rotationHandle(h.client, id).describe(), WorkflowNotFoundError);
    const audit = auditRecords().find((r) => r.workflowId === run.workflowId);
    assert.equal(audit?.status, 'no_op');
    assert.equal(audit?.errorCode, null);
    assert.equal(audit?.clientId, id);
    assert.equal((audit as { scheduledBy?: string } | undefined)?.scheduledBy, rotationScheduleId(id));
    assert.match((audit as { reason?: string } | undefined)?.reason ?? '', /beyond the renewal window of 30d/);

    // The same certificate inside the renewal window cannot be fixed by rotating to itself: refused, loudly.
    const stale = await runDirectly({ clientId: id, certSource: `file:${file}`, renewWithin: '400d' });
    assert.equal(stale.outcome, 'refused');
    assert.equal(stale.code, 'SOURCE_NOT_RENEWED');
    // An on-demand source (emulator-ca) is judged by the deployed leaf's expiry alone: far from it, nothing is issued.
    const onDemand = await runDirectly({ clientId: id, certSource: 'emulator-ca' });
    assert.equal(onDemand.outcome, 'no_op');
    assert.equal(onDemand.code, 'UP_TO_DATE');
    assert.equal(onDemand.source, null);
    // A source that is gone is refused with its code, and nothing is written either.
    const missing = await runDirectly({ clientId: id, certSource: `file:${join(h.dir, 'nope.pem')}` });
    assert.equal(missing.outcome, 'refused');
    assert.equal(missing.code, 'CertSourceInvalid');
    assert.equal((await h.admin.getClient(id)).version, 1);
    await deleteRotationSchedule(h.client, id);
  });

  test('the CLI creates, lists, describes, pauses, unpauses and deletes schedules', T, async () => {
    const h = harness();
    const id = 'sched-cli';
    await seedClient(id);
    const created = await cli(['create', '--client', id, '--every', '24h', '--cert-source', 'emulator-ca', '--overlap', '0s', '--service-id', 'crm', '--json', ...target()]);
    assert.equal(created.code, 0, created.stderr);
    const view = JSON.parse(created.stdout);
    assert.equal(view.scheduleId, `pin-rotation-schedule-${id}`);
    assert.equal(view.clientId, id);
    assert.deepEqual(view.spec, { every: '24h' });
    assert.equal(view.paused, false);
    assert.equal(view.certSource, 'emulator-ca');
    assert.equal(view.renewWithin, '30d');
    assert.equal(view.overlap, '0s');
    assert.ok(view.nextActionTimes.length > 0);

    const handle = h.client.schedule.getHandle(rotationScheduleId(id));
    const d = await handle.describe();
    assert.equal(d.policies.overlap, 'SKIP');
    assert.equal(d.action.workflowType, 'scheduledRotation');
    assert.equal(d.action.taskQueue, h.taskQueue);
    const actionAttributes = d.action.typedSearchAttributes;
    assert.ok(actionAttributes instanceof TypedSearchAttributes);
    assert.equal(actionAttributes.get(ClientIdKey), id);
    assert.equal(actionAttributes.get(ServiceIdKey), 'crm');
    assert.deepEqual(d.action.args, [{ clientId: id, certSource: 'emulator-ca', serviceId: 'crm', overlap: '0s', renewWithin: '30d' }]);
    assert.equal((d.memo as { certSource?: string }).certSource, 'emulator-ca');

    const again = await cli(['create', '--client', id, '--every', '12h', '--cert-source', 'emulator-ca', '--json', ...target()]);
    assert.equal(again.code, 1);
    assert.equal(JSON.parse(again.stdout).error.code, 'ALREADY_EXISTS');
    assert.match(again.stderr, /already exists/);

    // Listing goes through visibility, which is eventually consistent.
    const listed = await waitFor('the schedule in `list`', async () => {
      const r = await cli(['list', '--json', ...target()]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout).schedules as Array<Record<string, unknown>>).find((s) => s.clientId === id);
    });
    assert.equal(listed.scheduleId, rotationScheduleId(id));
    assert.deepEqual(listed.spec, { every: '24h' });
    assert.equal(listed.certSource, 'emulator-ca');
    assert.equal(listed.paused, false);
    assert.ok(Array.isArray(listed.nextActionTimes));

    assert.equal((await cli(['pause', '--client', id, '--note', 'change freeze', ...target()])).code, 0);
    const paused = await handle.describe();
    assert.equal(paused.state.paused, true);
    assert.equal(paused.state.note, 'change freeze');
    assert.equal(JSON.parse((await cli(['describe', '--client', id, '--json', ...target()])).stdout).paused, true);
    assert.equal((await cli(['unpause', '--client', id, ...target()])).code, 0);
    assert.equal((await handle.describe()).state.paused, false);

    // create checks on a worker that the client exists before it creates anything.
    await seedClient(`${id}-cron`);
    const cron = await cli(['create', '--client', `${id}-cron`, '--cron', '0 3 * * *', '--cert-source', 'emulator-ca', '--paused', '--json', ...target()]);
    assert.equal(cron.code, 0, cron.stderr);
    assert.deepEqual(JSON.parse(cron.stdout).spec, { cron: '0 3 * * *' });
    assert.equal((await h.client.schedule.getHandle(rotationScheduleId(`${id}-cron`)).describe()).state.paused, true);

    assert.equal((await cli(['delete', '--client', id, ...target()])).code, 0);
    assert.equal((await cli(['delete', '--client', `${id}-cron`, ...target()])).code, 0);
    await assert.rejects(handle.describe(), ScheduleNotFoundError);
    const gone = await cli(['describe', '--client', id, '--json', ...target()]);
    assert.equal(gone.code, 1);
    assert.equal(JSON.parse(gone.stdout).error.code, 'NOT_FOUND');
  });

  test('the CLI refuses bad schedule arguments as usage errors', T, async () => {
    const bad = [
      ['create', '--client', 'x', '--cert-source', 'emulator-ca'],
      ['create', '--client', 'x', '--every', '24h', '--cron', '0 3 * * *', '--cert-source', 'emulator-ca'],
      ['create', '--client', 'x', '--every', '10s', '--cert-source', 'emulator-ca'],
      ['create', '--client', 'x', '--every', '24h', '--cert-source', 'ftp://pki'],
      ['create', '--client', 'x', '--every', '24h', '--cert-source', 'emulator-ca', '--renew-within', 'soon'],
      ['create', '--client', 'x', '--cron', 'not a cron', '--cert-source', 'emulator-ca', ...target()],
      ['pause', '--note', 'n'],
      ['explode'],
    ];
    for (const args of bad) await assert.rejects(cli(args), UsageError, args.join(' '));
    await assert.rejects(harness().client.schedule.getHandle(rotationScheduleId('x')).describe(), ScheduleNotFoundError);
  });
}

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ScheduleNotFoundError } from '@temporalio/client';
import { run as inventoryCommand } from '../../src/cli/commands/inventory';
import { run as listCommand } from '../../src/cli/commands/list';
import { run as scheduleCommand } from '../../src/cli/commands/schedule';
import type { CommandIo } from '../../src/cli/io';
import { RotationMetrics } from '../../src/metrics/registry';
import { deleteInventorySchedule, ensureInventorySchedule } from '../../src/schedules/inventory';
import { describeRotationSchedule } from '../../src/schedules/client';
import { buildDeps } from '../../src/worker';
import { INVENTORY_SCHEDULE_ID, rotationScheduleId, statusQuery } from '../../src/contract';
import { rotationHandle, signalRotation, startRotation } from '../../src/starter';
import { FAST_RETRY, harness, issue, seedClient, startOwnedWorker } from './harness';
import { recordedWorkflowIds } from './saga.suite';

const T = { timeout: 90_000 };

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
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
}

type Run = (argv: string[], io?: CommandIo) => Promise<number>;

async function cli(command: Run, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const code = await command(args, { stdout: { write: (c: string) => (out.stdout += c) }, stderr: { write: (c: string) => (out.stderr += c) } });
  return { code, ...out };
}

function target(taskQueue = harness().taskQueue): string[] {
  return ['--address', harness().env.address, '--task-queue', taskQueue];
}

interface Row {
  clientId: string;
  notAfter: string | null;
  daysLeft: number | null;
  pins: Array<{ role: string; subject: string; notAfter: string; daysLeft: number }>;
  rotation: { status: string | null } | null;
  lastOutcome: { status: string | null } | null;
  schedule: { scheduleId: string; paused: boolean } | null;
}

export function inventorySuite(): void {
  const ids = ['inv-a', 'inv-b', 'inv-c'];

  test('inventory --json lists every seeded client with its expiry, its rotation and its schedule; --csv and --expiring-within', T, async () => {
    const h = harness();
    const seeded = new Map<string, Awaited<ReturnType<typeof seedClient>>>();
    for (const id of ids) seeded.set(id, await seedClient(id, { backup: id === 'inv-c' }));
    // inv-b waits for approval; inv-a has a paused schedule.
    const next = await issue('inv-b');
    await startRotation(h.client, { clientId: 'inv-b', certificatePem: next.certificatePem, approval: { required: true, timeout: '1h' }, retry: FAST_RETRY }, h.taskQueue);
    recordedWorkflowIds.push('pin-rotation-inv-b');
    await waitFor('inv-b to await approval', async () => (await rotationHandle(h.client, 'inv-b').query(statusQuery)).phase === 'awaiting_approval' || undefined);
    const created = await cli(scheduleCommand, ['create', '--client', 'inv-a', '--every', '24h', '--cert-source', 'emulator-ca', '--overlap', '0s', '--paused', '--json', ...target()]);
    assert.equal(created.code, 0, created.stderr);

    // Page size 2: the listing takes several platform pages.
    const listed = await waitFor('the rotation and the schedule in the inventory (visibility is eventually consistent)', async () => {
      const r = await cli(inventoryCommand, ['--json', '--page-size', '2', ...target()]);
      assert.equal(r.code, 0, r.stderr);
      const body = JSON.parse(r.stdout) as { complete: boolean; total: number; scanned: number; clients: Row[] };
      const b = body.clients.find((c) => c.clientId === 'inv-b');
      const a = body.clients.find((c) => c.clientId === 'inv-a');
      return b?.rotation?.status === 'awaiting_approval' && a?.schedule ? body : undefined;
    });
    assert.equal(listed.complete, true);
    assert.equal(listed.total, listed.clients.length);
    assert.equal(listed.scanned, listed.total, 'without a filter every client read is listed');
    assert.ok(listed.total >= ids.length + 1);
    for (const id of ids) {
      const row = listed.clients.find((c) => c.clientId === id);
      assert.ok(row, `${id} listed`);
      const primary = seeded.get(id)!.pins[0];
      assert.equal(row.notAfter, primary.notAfter);
      assert.ok(row.daysLeft !== null && row.daysLeft > 28 && row.daysLeft < 30, `${id} days left ${row.daysLeft}`);
      assert.deepEqual(row.pins.map((p) => [p.role, p.notAfter]), seeded.get(id)!.pins.map((p) => [p.role, p.notAfter]));
      assert.match(row.pins[0].subject, new RegExp(id));
    }
    const a = listed.clients.find((c) => c.clientId === 'inv-a')!;
    assert.deepEqual([a.schedule?.scheduleId, a.schedule?.paused], [rotationScheduleId('inv-a'), true]);
    assert.equal(listed.clients.find((c) => c.clientId === 'inv-c')!.pins.length, 2);

    const soon = JSON.parse((await cli(inventoryCommand, ['--json', '--expiring-within', '40d', ...target()])).stdout) as { clients: Row[] };
    for (const id of ids) assert.ok(soon.clients.some((c) => c.clientId === id), `${id} expires within 40d`);
    const none = JSON.parse((await cli(inventoryCommand, ['--json', '--expiring-within', '10d', ...target()])).stdout) as { clients: Row[] };
    for (const id of ids) assert.equal(none.clients.some((c) => c.clientId === id), false, `${id} does not expire within 10d`);

    const csv = await cli(inventoryCommand, ['--csv', ...target()]);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = csv.stdout.trimEnd().split('\r\n');
    assert.match(lines[0], /^clientId,name,state,mtlsRequired,role,subject,notAfter,daysLeft,/);
    assert.equal(lines.filter((l) => l.startsWith('inv-c,')).length, 2, 'one row per pin');
    const text = await cli(inventoryCommand, [...target()]);
    assert.match(text.stdout, /inv-b\s+active\s+primary .* running \(awaiting_approval\)/);
    assert.match(text.stdout, /inv-a\s+active .* paused/);
  });

  test('list --status over the search attributes: awaiting approval, then refused; the client prefix filters', T, async () => {
    const h = harness();
    const awaiting = await waitFor('inv-b in list --status awaiting_approval', async () => {
      const r = await cli(listCommand, ['--status', 'awaiting_approval', '--client-prefix', 'inv-', '--json', '--address', h.env.address]);
      assert.equal(r.code, 0, r.stderr);
      const rotations = (JSON.parse(r.stdout) as { rotations: Array<{ clientId: string; status: string; workflowId: string }> }).rotations;
      return rotations.length ? rotations : undefined;
    });
    assert.deepEqual(awaiting.map((r) => [r.clientId, r.status, r.workflowId]), [['inv-b', 'awaiting_approval', 'pin-rotation-inv-b']]);
    const other = await cli(listCommand, ['--status', 'awaiting_approval', '--client-prefix', 'nobody-', '--json', '--address', h.env.address]);
    assert.deepEqual(JSON.parse(other.stdout).rotations, []);

    await signalRotation(h.client, 'inv-b', 'rollback', { reason: 'not today' });
    assert.equal((await rotationHandle(h.client, 'inv-b').result()).status, 'refused');
    const refused = await waitFor('inv-b in list --status refused', async () => {
      const r = await cli(listCommand, ['--status', 'refused', '--client-prefix', 'inv-b', '--json', '--address', h.env.address]);
      const rotations = (JSON.parse(r.stdout) as { rotations: Array<{ clientId: string; executionStatus: string }> }).rotations;
      return rotations.length ? rotations : undefined;
    });
    assert.deepEqual(refused.map((r) => [r.clientId, r.executionStatus]), [['inv-b', 'COMPLETED']]);
    const bad = cli(listCommand, ['--status', 'sleeping']);
    await assert.rejects(bad, /--status must be one of/);
  });

  test('the inventory schedule records every client\'s expiry and the fleet counts in the worker\'s metrics', T, async () => {
    const h = harness();
    const taskQueue = `${h.taskQueue}-inventory`;
    const metrics = new RotationMetrics();
    const config = { ...h.config, env: { ...h.config.env, TEMPORAL_TASK_QUEUE: taskQueue } };
    const owned = await startOwnedWorker({ config, connection: h.env.nativeConnection, workflowBundle: h.bundle, logger: h.logger, deps: buildDeps(config, metrics) });
    try {
      // inv-c waits for approval while the inventory runs.
      const next = await issue('inv-c');
      await startRotation(h.client, { clientId: 'inv-c', certificatePem: next.certificatePem, approval: { required: true, timeout: '1h' }, retry: FAST_RETRY }, h.taskQueue);
      recordedWorkflowIds.push('pin-rotation-inv-c');
      await waitFor('inv-c awaiting approval in visibility', async () => {
        const r = await cli(listCommand, ['--status', 'awaiting_approval', '--client-prefix', 'inv-c', '--json', '--address', h.env.address]);
        return JSON.parse(r.stdout).rotations.length ? true : undefined;
      });
      const view = await ensureInventorySchedule(h.client, { every: '1h', taskQueue, retry: FAST_RETRY });
      assert.equal(view.scheduleId, INVENTORY_SCHEDULE_ID);
      assert.equal(view.validForSeconds, 7200);
      // Created with an immediate first run.
      await waitFor('an inventory recorded by the worker', async () => (metrics.inventoryRuns.get({ outcome: 'success' }) >= 1 ? true : undefined), 60_000);
      const text = metrics.render();
      for (const id of ids) {
        const c = await h.admin.getClient(id);
        const primary = c.pins.find((p) => p.role === 'primary')!;
        assert.ok(text.includes(`client_certificate_expiry_timestamp_seconds{client_id="${id}",role="primary"} ${Date.parse(primary.notAfter) / 1000}`), `${id} expiry exported`);
      }
      assert.ok(text.includes('pinrotate_client_rotation_running{client_id="inv-c"} 1'));
      assert.match(text, /pinrotate_rotation_awaiting_approval_since_timestamp_seconds\{client_id="inv-c"\} \d+/);
      assert.ok((metrics.awaitingApproval.get() ?? 0) >= 1);
      assert.ok((metrics.inventoryClients.get() ?? 0) >= ids.length);
      // Again: an update, not a second schedule.
      const again = await ensureInventorySchedule(h.client, { every: '30m', taskQueue });
      assert.deepEqual([again.created, again.validForSeconds], [false, 3600]);
    } finally {
      await deleteInventorySchedule(h.client);
      await signalRotation(h.client, 'inv-c', 'rollback', { reason: 'test done' }).catch(() => undefined);
      await owned.stop();
    }
  });

  test('a paused schedule is not triggered without --force (exit 1, nothing runs); with --force it runs', T, async () => {
    const h = harness();
    const paused = await cli(scheduleCommand, ['trigger', '--client', 'inv-a', '--json', ...target()]);
    assert.equal(paused.code, 1);
    assert.equal(JSON.parse(paused.stdout).error.code, 'SCHEDULE_PAUSED');
    assert.match(paused.stderr, /paused .*--force/);
    assert.equal((await describeRotationSchedule(h.client, 'inv-a')).numActionsTaken, 0, 'nothing ran');

    const forced = await cli(scheduleCommand, ['trigger', '--client', 'inv-a', '--force', '--json', ...target()]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(JSON.parse(forced.stdout), { scheduleId: rotationScheduleId('inv-a'), clientId: 'inv-a', triggered: true, paused: true, forced: true });
    const run = await waitFor('the forced run', async () => {
      const d = await describeRotationSchedule(h.client, 'inv-a');
      return d.recentActions[0]?.workflowStatus === 'COMPLETED' ? d.recentActions[0] : undefined;
    });
    recordedWorkflowIds.push(run.workflowId);
    if (run.rotation) {
      recordedWorkflowIds.push(run.rotation.workflowId);
      await rotationHandle(h.client, 'inv-a').result();
    }
    assert.ok(run.outcome, 'the run decided');
  });

  test('schedule update changes spec, source and overlap in place', T, async () => {
    const h = harness();
    const updated = await cli(scheduleCommand, ['update', '--client', 'inv-a', '--cron', '0 4 * * *', '--overlap', '2d', '--renew-within', '20d', '--json', ...target()]);
    assert.equal(updated.code, 0, updated.stderr);
    const view = JSON.parse(updated.stdout);
    assert.deepEqual(view.spec, { cron: '0 4 * * *' });
    assert.equal(view.overlap, '2d');
    assert.equal(view.renewWithin, '20d');
    assert.equal(view.paused, true, 'update keeps the paused state');
    const d = await h.client.schedule.getHandle(rotationScheduleId('inv-a')).describe();
    assert.deepEqual(d.action.args, [{ clientId: 'inv-a', certSource: 'emulator-ca', overlap: '2d', renewWithin: '20d' }]);
    const file = join(h.dir, 'inv-a-missing.pem');
    const refused = await cli(scheduleCommand, ['update', '--client', 'inv-a', '--cert-source', `file:${file}`, '--json', ...target()]);
    assert.equal(refused.code, 1);
    assert.equal(JSON.parse(refused.stdout).error.code, 'SOURCE_UNREADABLE');
    assert.deepEqual((await h.client.schedule.getHandle(rotationScheduleId('inv-a')).describe()).action.args, d.action.args, 'nothing changed on refusal');
    const missing = await cli(scheduleCommand, ['update', '--client', 'inv-nobody', '--every', '1h', '--json', ...target()]);
    assert.equal(missing.code, 1);
    assert.equal(JSON.parse(missing.stdout).error.code, 'NOT_FOUND');
    assert.equal((await cli(scheduleCommand, ['delete', '--client', 'inv-a', ...target()])).code, 0);
  });

  test('create is refused for a missing client and for an unreadable source, and nothing is created', T, async () => {
    const h = harness();
    const missing = await cli(scheduleCommand, ['create', '--client', 'inv-missing', '--every', '24h', '--cert-source', 'emulator-ca', '--json', ...target()]);
    assert.equal(missing.code, 1);
    const body = JSON.parse(missing.stdout);
    assert.equal(body.error.code, 'CLIENT_NOT_FOUND');
    assert.equal(body.created, false);
    assert.match(missing.stderr, /nothing was created/);
    await assert.rejects(h.client.schedule.getHandle(rotationScheduleId('inv-missing')).describe(), ScheduleNotFoundError);

    const unreadable = await cli(scheduleCommand, ['create', '--client', 'inv-b', '--every', '24h', '--cert-source', `file:${join(h.dir, 'no-such.pem')}`, '--json', ...target()]);
    assert.equal(unreadable.code, 1);
    assert.equal(JSON.parse(unreadable.stdout).error.code, 'SOURCE_UNREADABLE');
    assert.match(unreadable.stderr, /CertSourceInvalid/);
    await assert.rejects(h.client.schedule.getHandle(rotationScheduleId('inv-b')).describe(), ScheduleNotFoundError);
  });
}

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main';
import { run as fleetCli } from '../../src/cli/commands/fleet';
import type { CommandIo } from '../../src/cli/io';
import { startFleet, queryProgress, waitForFleet } from '../../src/fleet/client';
import { parseClientsFile } from '../../src/fleet/clients-file';
import { finalizeNowUpdate, fleetWorkflowId, statusQuery, type FleetInput, type FleetSummary } from '../../src/contract';
import { startRotation, signalRotation, waitForRotation } from '../../src/starter';
import { rotationWorkflowId } from '../../src/contract';
import { FAST_RETRY, harness, seedClient } from './harness';
import { recordedWorkflowIds } from './saga.suite';

const T = { timeout: 90_000 };

function collector(): CommandIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (c: string) => (out += c) },
    stderr: { write: (c: string) => (err += c) },
    out: () => out,
    err: () => err,
  };
}

/** Seeds clients and returns each one's seeded primary SPKI pin. */
async function seedMany(ids: string[], opts: Parameters<typeof seedClient>[1] = {}): Promise<Map<string, string>> {
  const seeded = new Map<string, string>();
  for (const id of ids) seeded.set(id, (await seedClient(id, opts)).spki);
  return seeded;
}

/** The client holds exactly one pin now: a new primary, not the one it was seeded with. */
async function assertRotated(id: string, seededSpki: string): Promise<void> {
  const now = await harness().admin.getClient(id);
  assert.equal(now.pins.length, 1, `${id}: exactly one pin after finalize`);
  assert.equal(now.pins[0].role, 'primary');
  assert.notEqual(now.pins[0].sha256Spki, seededSpki, `${id}: a new primary`);
}

async function runFleet(name: string, input: FleetInput): Promise<{ summary: FleetSummary; workflowId: string; firstRunId: string }> {
  const h = harness();
  const handle = await startFleet(h.client, { retry: FAST_RETRY, certSource: 'emulator-ca', ...input }, { taskQueue: h.taskQueue, workflowId: fleetWorkflowId(name) });
  recordedWorkflowIds.push(handle.workflowId);
  const outcome = await waitForFleet(handle, { pollMs: 100 });
  assert.equal(outcome.end, 'completed', outcome.error);
  assert.ok(outcome.summary);
  return { summary: outcome.summary, workflowId: handle.workflowId, firstRunId: handle.firstExecutionRunId };
}

/**
 * Most children holding a slot at once: from the server's start time of each child to the time it went live
 * (its status' `timestamps.live`, when it told the fleet), or its close when it never went live.
 */
async function maxOverlap(workflowIds: string[]): Promise<number> {
  const h = harness();
  const edges: Array<[number, number]> = [];
  for (const id of workflowIds) {
    const handle = h.client.workflow.getHandle(id);
    const d = await handle.describe();
    const live = (await handle.query(statusQuery)).timestamps.live;
    const freed = live ? Date.parse(live) : d.closeTime?.getTime();
    assert.ok(freed, `${id} went live or closed`);
    edges.push([d.startTime.getTime(), +1], [freed, -1]);
  }
  // A close and a start at the same instant: the close counts first (the slot was freed).
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, delta] of edges) {
    open += delta;
    max = Math.max(max, open);
  }
  return max;
}

export function fleetSuite(): void {
  test('clients files: ids per line with comments, JSON arrays, bad lines reported by number', () => {
    const lines = parseClientsFile('# fleet\nalpha\n\n  beta   # trailing comment\r\ngamma\n');
    assert.deepEqual(lines, { clients: [{ clientId: 'alpha' }, { clientId: 'beta' }, { clientId: 'gamma' }], problems: [] });
    const bad = parseClientsFile('ok-1\nnot valid\n-dash\nok-1\n');
    assert.deepEqual(bad.clients, [{ clientId: 'ok-1' }]);
    assert.equal(bad.problems.length, 3);
    assert.match(bad.problems[0], /^line 2: expected one client id per line/);
    assert.match(bad.problems[1], /^line 3: "-dash" is not a client id/);
    assert.match(bad.problems[2], /^line 4: ok-1 is listed again \(first on line 1\)/);
    const json = parseClientsFile('[ "a1", {"clientId": "b2", "certSource": "file:/etc/pki/b2.pem"}, {"clientId": "c3", "color": 1}, 7 ]');
    assert.deepEqual(json.clients, [{ clientId: 'a1' }, { clientId: 'b2', certSource: 'file:/etc/pki/b2.pem' }]);
    assert.match(json.problems[0], /^item 3: unknown field/);
    assert.match(json.problems[1], /^item 4: expected a client id/);
    assert.match(parseClientsFile('[\n"a",\n}').problems[0], /not valid JSON/);
  });

  test('pinrotate fleet refuses a clients file with bad lines (exit 2, line numbers) before starting anything', T, async () => {
    const h = harness();
    const file = join(h.dir, 'fleet-bad.txt');
    writeFileSync(file, 'fleet-ok\n# comment\nbad id here\nfleet-ok\n');
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['fleet', '--clients', file, '--concurrency', '2', '--address', h.env.address, '--task-queue', h.taskQueue]);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(code, 2);
    const text = stderr.join('');
    assert.match(text, /line 3: expected one client id per line/);
    assert.match(text, /line 4: fleet-ok is listed again \(first on line 1\)/);
    assert.match(text, /nothing was started/);
    await assert.rejects(fleetCli(['--clients', file, '--all', '--concurrency', '1']), /either --clients FILE or --all/);
    await assert.rejects(fleetCli(['--all']), /--concurrency N is required/);
    // No default certificate source: a fleet never takes the demo CA by accident.
    await assert.rejects(fleetCli(['--all', '--concurrency', '1']), /--cert-source SRC is required/);
  });

  test('a fleet of 8 clients at concurrency 3 rotates every one, never more than 3 at a time', T, async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `fleet-c-${i + 1}`);
    const seeded = await seedMany(ids);
    const { summary, workflowId } = await runFleet('concurrency', { clients: ids.map((clientId) => ({ clientId })), concurrency: 3, overlap: '0s' });
    assert.equal(summary.state, 'done');
    assert.equal(summary.total, 8);
    assert.equal(summary.done, 8);
    assert.equal(summary.byStatus.finalized, 8, JSON.stringify(summary.failures));
    assert.deepEqual(summary.failures, []);
    for (const id of ids) await assertRotated(id, seeded.get(id)!);
    // The workflow's own bound (all three lanes busy at once) and the server's record of the children agree.
    assert.equal(summary.maxRunning, 3);
    const overlap = await maxOverlap(ids.map(rotationWorkflowId));
    assert.ok(overlap <= 3, `at most 3 children open at once (saw ${overlap})`);
    assert.ok(overlap >= 2, `children did run side by side (saw ${overlap})`);
    const progress = await queryProgress(harness().client.workflow.getHandle(workflowId));
    assert.equal(progress.done, progress.total);
    assert.equal(progress.running, 0);
    assert.equal(progress.queued, 0);
  });

  test('--all (scoped by --prefix) rotates active mTLS clients and skips inactive and mTLS-off ones; CLI prints the JSON summary', T, async () => {
    const h = harness();
    const active = ['fleet-all-a', 'fleet-all-b', 'fleet-all-c'];
    const seeded = await seedMany(active);
    await seedClient('fleet-all-inactive', { state: 'inactive' });
    await seedClient('fleet-all-nomtls', { mtlsRequired: false });
    const untouched = await Promise.all(['fleet-all-inactive', 'fleet-all-nomtls'].map((id) => h.admin.getClient(id)));
    const io = collector();
    const code = await fleetCli(
      ['--all', '--prefix', 'fleet-all-', '--cert-source', 'emulator-ca', '--concurrency', '2', '--overlap', '0s', '--fleet-id', 'all-prefix', '--wait', '--json', '--address', h.env.address, '--task-queue', h.taskQueue],
      io,
    );
    recordedWorkflowIds.push(fleetWorkflowId('all-prefix'));
    const out = JSON.parse(io.out()) as ReturnType<typeof JSON.parse>;
    assert.equal(code, 0, io.out() + io.err());
    assert.equal(out.fleetId, 'pin-fleet-all-prefix');
    assert.equal(out.ok, true);
    assert.equal(out.total, 5);
    assert.equal(out.done, 5);
    assert.deepEqual(out.byStatus, { finalized: 3, rotated: 0, rolled_back: 0, refused: 0, failed: 0, skipped: 2, dry_run: 0 });
    assert.deepEqual(out.skippedBy, { CLIENT_NOT_ACTIVE: 1, MTLS_NOT_REQUIRED: 1 });
    assert.deepEqual(
      out.failures.map((f: { clientId: string; status: string; code: string }) => [f.clientId, f.status, f.code]).sort(),
      [
        ['fleet-all-inactive', 'skipped', 'CLIENT_NOT_ACTIVE'],
        ['fleet-all-nomtls', 'skipped', 'MTLS_NOT_REQUIRED'],
      ],
    );
    for (const id of active) await assertRotated(id, seeded.get(id)!);
    for (const before of untouched) assert.equal((await h.admin.getClient(before.id)).version, before.version, `${before.id} untouched`);
    assert.match(io.err(), /fleet pin-fleet-all-prefix started/);
  });

  test('a failing rotation is listed with its code, a client already rotating is skipped, and the exit code is 1', T, async () => {
    const h = harness();
    const ids = ['fleet-f-ok', 'fleet-f-bad', 'fleet-f-busy'];
    const seeded = await seedMany(ids);
    // fleet-f-busy is mid-rotation (in its overlap) when the fleet reaches it.
    const cert = await h.admin.issueCertificate({ commonName: 'fleet-f-busy' });
    const busy = await startRotation(h.client, { clientId: 'fleet-f-busy', certificatePem: cert.certificatePem, overlap: '1h', retry: FAST_RETRY }, h.taskQueue);
    await waitForRotation(busy, { untilOverlap: true, pollMs: 100 });
    await h.admin.addFault({ method: 'PATCH', pathPrefix: '/api/v2/oauth/clients/fleet-f-bad', status: 400, times: 1 });
    const file = join(h.dir, 'fleet-f.txt');
    writeFileSync(file, `# the failure fleet\n${ids.join('\n')}\n\n`);
    const io = collector();
    const code = await fleetCli(['--clients', file, '--cert-source', 'emulator-ca', '--concurrency', '3', '--overlap', '0s', '--fleet-id', 'failures', '--wait', '--json', '--address', h.env.address, '--task-queue', h.taskQueue], io);
    recordedWorkflowIds.push(fleetWorkflowId('failures'));
    try {
      assert.equal(code, 1, io.out() + io.err());
      const out = JSON.parse(io.out());
      assert.equal(out.ok, false);
      assert.equal(out.total, 3);
      assert.equal(out.byStatus.finalized, 1);
      assert.equal(out.byStatus.failed, 1);
      assert.equal(out.byStatus.skipped, 1);
      assert.deepEqual(out.skippedBy, { ALREADY_RUNNING: 1 });
      const byClient = new Map(out.failures.map((f: { clientId: string }) => [f.clientId, f]));
      assert.deepEqual(Object.keys(byClient.get('fleet-f-bad') ?? {}).sort(), ['clientId', 'code', 'message', 'status']);
      assert.equal((byClient.get('fleet-f-bad') as { status: string }).status, 'failed');
      assert.equal((byClient.get('fleet-f-bad') as { code: string }).code, 'PlatformBadRequest');
      assert.equal((byClient.get('fleet-f-busy') as { code: string }).code, 'ALREADY_RUNNING');
      assert.equal(byClient.has('fleet-f-ok'), false);
      await assertRotated('fleet-f-ok', seeded.get('fleet-f-ok')!);
      // The failed rotation changed nothing: the seeded primary is still the only pin.
      const bad = await h.admin.getClient('fleet-f-bad');
      assert.deepEqual(bad.pins.map((p) => [p.role, p.sha256Spki]), [['primary', seeded.get('fleet-f-bad')]]);
    } finally {
      await signalRotation(h.client, 'fleet-f-busy', 'finalizeNow');
      assert.equal((await busy.result()).status, 'finalized');
    }
  });

  test('continue-as-new carries the listing cursor, the remaining clients and the counts across runs', T, async () => {
    const h = harness();
    const ids = Array.from({ length: 7 }, (_, i) => `fleet-can-${i + 1}`);
    const seeded = await seedMany(ids);
    const { summary, workflowId, firstRunId } = await runFleet('continue-as-new', {
      all: true,
      idPrefix: 'fleet-can-',
      pageSize: 3,
      concurrency: 2,
      continueAsNewEvery: 3,
      overlap: '0s',
    });
    assert.equal(summary.total, 7);
    assert.equal(summary.done, 7);
    assert.equal(summary.byStatus.finalized, 7, JSON.stringify(summary.failures));
    assert.equal(summary.runs, 3, '3 + 3 + 1 children');
    assert.ok(summary.maxRunning <= 2);
    assert.equal(summary.listing?.complete, true);
    for (const id of ids) await assertRotated(id, seeded.get(id)!);
    const latest = await h.client.workflow.getHandle(workflowId).describe();
    assert.notEqual(latest.runId, firstRunId);
    assert.equal((await h.client.workflow.getHandle(workflowId, firstRunId).describe()).status.name, 'CONTINUED_AS_NEW');
    // The progress query answers on the last run with the whole fleet's counts.
    const progress = await queryProgress(h.client.workflow.getHandle(workflowId));
    assert.equal(progress.done, 7);
    assert.equal(progress.byStatus.finalized, 7);
    assert.equal(progress.runs, 3);
  });

  test('a fleet of 6 at concurrency 2 with a 60 s overlap is entirely live within 25 s, followed to finalize; fleet status answers by id', T, async () => {
    const h = harness();
    const ids = Array.from({ length: 6 }, (_, i) => `fleet-live-${i + 1}`);
    const seeded = await seedMany(ids);
    const started = Date.now();
    const handle = await startFleet(
      h.client,
      { retry: FAST_RETRY, certSource: 'emulator-ca', clients: ids.map((clientId) => ({ clientId })), concurrency: 2, overlap: '60s' },
      { taskQueue: h.taskQueue, workflowId: fleetWorkflowId('all-live') },
    );
    recordedWorkflowIds.push(handle.workflowId);
    let progress = await queryProgress(handle).catch(() => undefined);
    while (!progress || progress.live < 6) {
      assert.ok(Date.now() - started < 60_000, `not all live after 60 s: ${JSON.stringify(progress)}`);
      await new Promise((r) => setTimeout(r, 100));
      progress = await queryProgress(handle).catch(() => progress);
    }
    const allLiveMs = Date.now() - started;
    process.stderr.write(`[fleet] 6 clients, concurrency 2, overlap 60s: all live after ${(allLiveMs / 1000).toFixed(1)} s\n`);
    assert.ok(allLiveMs < 25_000, `all live within 25 s (took ${allLiveMs} ms)`);
    assert.equal(progress.wentLive, 6);
    assert.equal(progress.running, 0);
    assert.equal(progress.done, 0, 'live children are followed, not done');
    assert.ok(progress.etaLive, 'an estimate once children go live');
    for (const id of ids) {
      const pins = (await h.admin.getClient(id)).pins;
      assert.deepEqual(pins.map((p) => p.role), ['primary', 'fallback'], `${id} live with its fallback`);
      assert.equal(pins[1].sha256Spki, seeded.get(id));
    }
    // Slots were held only until live: never more than 2 children going live at once.
    assert.ok((await maxOverlap(ids.map(rotationWorkflowId))) <= 2);

    // Followed by id from another process's point of view: `fleet status --fleet NAME`.
    const io = collector();
    const code = await fleetCli(['status', '--fleet', 'all-live', '--json', '--address', h.env.address], io);
    assert.equal(code, 0, io.err());
    const shown = JSON.parse(io.out()) as { live: number; finalized: number; workflowStatus: string };
    assert.equal(shown.workflowStatus, 'RUNNING');
    assert.equal(shown.live, 6);

    // The operators end the overlaps early (no field traffic: no force needed); the fleet sees each finalize.
    for (const id of ids) await h.client.workflow.getHandle(rotationWorkflowId(id)).executeUpdate(finalizeNowUpdate, { args: [{ reason: 'test' }] });
    const outcome = await waitForFleet(handle, { pollMs: 100 });
    assert.equal(outcome.end, 'completed', outcome.error);
    assert.equal(outcome.summary?.byStatus.finalized, 6, JSON.stringify(outcome.summary?.failures));
    assert.equal(outcome.summary?.finalized, 6);
    assert.equal(outcome.summary?.live, 0);
    for (const id of ids) await assertRotated(id, seeded.get(id)!);
  });

  test('fleet cancel --fleet stops a fleet started without --wait: its live children restore their clients', T, async () => {
    const h = harness();
    const ids = ['fleet-cancel-1', 'fleet-cancel-2'];
    const seeded = await seedMany(ids);
    const handle = await startFleet(
      h.client,
      { retry: FAST_RETRY, certSource: 'emulator-ca', clients: ids.map((clientId) => ({ clientId })), concurrency: 2, overlap: '1h' },
      { taskQueue: h.taskQueue, workflowId: fleetWorkflowId('to-cancel') },
    );
    recordedWorkflowIds.push(handle.workflowId);
    for (let p = await queryProgress(handle).catch(() => undefined); !p || p.live < 2; p = await queryProgress(handle).catch(() => undefined)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const io = collector();
    assert.equal(await fleetCli(['cancel', '--fleet', 'to-cancel', '--address', h.env.address], io), 0, io.err());
    const outcome = await waitForFleet(handle, { pollMs: 100 });
    assert.equal(outcome.end, 'cancelled');
    for (const id of ids) {
      const result = await h.client.workflow.getHandle(rotationWorkflowId(id)).result().catch((e: unknown) => e);
      void result;
      const pins = (await h.admin.getClient(id)).pins;
      assert.deepEqual(pins.map((p) => [p.role, p.sha256Spki]), [['primary', seeded.get(id)]], `${id} restored`);
    }
  });
}

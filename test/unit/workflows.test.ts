import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { FailureType, PlatformError } from '../../src/genesys/errors';
import { hexOfPublicKey } from '../../src/approvals/keys';
import { approvalFor, newApproverKey } from '../../src/approvals/sign';
import {
  approveSignal,
  approveUpdate,
  finalizeNowUpdate,
  platformTaskQueue,
  rollbackUpdate,
  rotationResultOfFailure,
  rotationWorkflowId,
  statusQuery,
  WORKFLOW_TYPE,
  type RotationInput,
  type RotationResult,
  type RotationStatus,
} from '../../src/contract';
import { locateTemporalCli } from '../../src/temporal/cli-binary';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { installRuntime } from '../../src/temporal/runtime';
import type { ClientPatch, HandshakeSummary, OAuthClientState } from '../../src/genesys/types';
import { FakePlatform, fakeWorld as plainWorld, seedRotatable, type FakeWorld } from './fakes';
import { bundleWorkflows } from '../../src/workflow-bundle';

/** The fake platform with the gateway's handshake telemetry: handshakes are recorded by test code, by SPKI. */
class TelemetryPlatform extends FakePlatform {
  readonly handshakes: Array<{ clientId: string; at: number; spki: string | null }> = [];
  telemetryFails = false;
  /** Telemetry readings asked for (each is a platform call). */
  reads = 0;
  /** Called after every PATCH that landed (traffic that follows a pin change). */
  afterPatch?: (client: OAuthClientState) => void;

  override async patchClient(clientId: string, patch: ClientPatch): Promise<OAuthClientState> {
    const client = await super.patchClient(clientId, patch);
    this.afterPatch?.(client);
    return client;
  }

  handshake(clientId: string, spki: string, at = Date.now()): void {
    const pins = this.clients.get(clientId)?.pins ?? [];
    this.handshakes.push({ clientId, at, spki: pins.some((p) => p.sha256Spki === spki) ? spki : null });
  }

  async getHandshakes(clientId: string, sinceIso: string): Promise<HandshakeSummary> {
    this.reads += 1;
    if (this.telemetryFails) throw new PlatformError('gateway telemetry down', { type: FailureType.Unavailable, status: 503 });
    const since = Date.parse(sinceIso);
    const mine = this.handshakes.filter((h) => h.clientId === clientId && h.at >= since);
    const byPin = new Map<string, { accepted: number; lastSeen: number }>();
    for (const h of mine.filter((x) => x.spki !== null)) {
      const row = byPin.get(h.spki!) ?? { accepted: 0, lastSeen: 0 };
      row.accepted += 1;
      row.lastSeen = Math.max(row.lastSeen, h.at);
      byPin.set(h.spki!, row);
    }
    const rejected = mine.filter((h) => h.spki === null);
    return {
      clientId,
      since: sinceIso,
      until: new Date().toISOString(),
      accepted: mine.length - rejected.length,
      rejected: rejected.length,
      byPin: [...byPin].map(([spki, r]) => ({ role: 'primary' as const, sha256Spki: spki, sha256Certificate: '', accepted: r.accepted, lastSeen: new Date(r.lastSeen).toISOString() })),
      rejectedLastSeen: rejected.length ? new Date(Math.max(...rejected.map((h) => h.at))).toISOString() : null,
    };
  }
}

function fakeWorld(): FakeWorld & { platform: TelemetryPlatform } {
  const world = plainWorld();
  const platform = new TelemetryPlatform();
  world.deps.platform = platform;
  return Object.assign(world, { platform });
}

/** A failed rotation fails its workflow; its result is in the failure details. */
async function failedResult(handle: WorkflowHandle): Promise<RotationResult> {
  const err = await handle.result().then(
    () => assert.fail('the workflow completed; a failed rotation must fail it'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  const result = rotationResultOfFailure(err);
  assert.ok(result, `RotationResult in the failure details of ${String(err)}`);
  return result;
}

// The workflow layer without the emulator: the committed histories replay (only the bundle is needed), and the
// rotation runs on a real dev server with activities built by createActivities over in-memory fakes.

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'histories');
const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never;
const FAST_RETRY = { initialInterval: '10ms', maximumInterval: '50ms', maximumAttempts: 3 };

let bundle: WorkflowBundleWithSourceMap;

before(async () => {
  installRuntime({ logLevel: 'ERROR' });
  bundle = await bundleWorkflows(quiet);
});

test('every committed history replays with the current workflow code', async () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 42, `histories under ${FIXTURES}`);
  const markers = new Set<string>();
  for (const file of files) {
    const history = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'));
    for (const e of history.events) {
      const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
      if (data) markers.add((JSON.parse(Buffer.from(data, 'base64').toString()) as { id: string }).id);
    }
    // The file's name is the workflow id replayed: approvals sent as signals are bound to the id the run had and are
    // checked again on replay, so such a history is committed under that id (pin-rotation-approval.json).
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, file.replace(/\.json$/, ''));
  }
  // A patch id once recorded is never renamed: the histories carrying it must keep replaying.
  const recorded = [
    'conflict-rounds-v1',
    'drain-aware-finalize-v1',
    'failed-run-fails-workflow-v1',
    'fleet-child-events-v1',
    'fleet-follow-live-v1',
    'signed-approvals-v1',
    'refuse-non-object-input-v1',
    'probe-preflight-v1',
    'explicit-cert-source-v1',
    'checked-operator-actions-v1',
    'hyphen-ids-v1',
    'lean-rotation-v1',
  ];
  for (const id of recorded) {
    assert.ok(markers.has(id), `a history recorded under ${id} is committed`);
  }
});

const cli = locateTemporalCli();

describe('rotation workflow with fake activities', { skip: cli ? false : 'no Temporal CLI found (TEMPORAL_CLI_PATH, PATH or the cache)' }, () => {
  let server: DevServer;
  let env: TestWorkflowEnvironment;

  before(async () => {
    // The project's one launcher: it registers the search attributes the rotation upserts.
    server = await startDevServer({ cliPath: cli!.path, headless: true });
    env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address, namespace: server.namespace });
  });
  after(async () => {
    await env?.teardown();
    await server?.stop();
  });

  /** Runs `fn` while a workflow worker and a platform worker serve a fresh task queue with the world's fakes. */
  async function withWorkers<T>(world: FakeWorld, fn: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `unit-${randomBytes(4).toString('hex')}`;
    const activities = createActivities(world.deps);
    const connection = env.nativeConnection;
    const main = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities });
    const platform = await Worker.create({ connection, taskQueue: platformTaskQueue(taskQueue), activities });
    return platform.runUntil(main.runUntil(fn(taskQueue)));
  }

  async function start(taskQueue: string, input: RotationInput): Promise<WorkflowHandle> {
    return env.client.workflow.start(WORKFLOW_TYPE, { taskQueue, workflowId: rotationWorkflowId(input.clientId), args: [input] });
  }

  async function phaseReached(handle: WorkflowHandle, phase: RotationStatus['phase']): Promise<RotationStatus> {
    for (let i = 0; i < 400; i++) {
      try {
        const s = await handle.query(statusQuery);
        if (s.phase === phase) return s;
      } catch {
        // first workflow task not run yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`phase ${phase} not reached`);
  }

  async function refusal(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => assert.fail('the update was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    return err.cause?.message ?? '';
  }

  test('an overlap timer expires by itself and the rotation finalizes', async () => {
    const world = fakeWorld();
    const { current, next } = seedRotatable(world, 'overlap-expires');
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: 'overlap-expires', certificatePem: next.certificatePem, overlap: '2s', retry: FAST_RETRY });
      const during = await phaseReached(handle, 'overlap');
      // While the overlap runs, the old certificate stays pinned as fallback.
      assert.deepEqual(
        during.pins.map((p) => [p.role, p.sha256Spki]),
        [
          ['primary', next.pin.sha256Spki],
          ['fallback', current.pin.sha256Spki],
        ],
      );
      return { result: (await handle.result()) as RotationResult, status: await handle.query(statusQuery) };
    });
    assert.equal(result.result.status, 'finalized', JSON.stringify(result.result.error));
    const held = world.platform.clients.get('overlap-expires')!;
    assert.deepEqual(held.pins.map((p) => [p.role, p.sha256Spki]), [['primary', next.pin.sha256Spki]]);
    assert.deepEqual(world.pki.events.map((e) => e.event), ['certificate_rotation', 'rotation_finalized']);
    // Nothing but the timer ended the overlap: it lasted its two seconds of workflow time.
    const ts = result.status.timestamps;
    assert.ok(Date.parse(ts.finalizing!) - Date.parse(ts.overlap!) >= 1900, JSON.stringify(ts));
    assert.deepEqual(world.audit.records.map((r) => r.status), ['finalized']);
  });

  test('operator actions that do not fit the state are refused with a reason, and the rotation keeps waiting', async () => {
    const world = fakeWorld();
    const alice = newApproverKey();
    const mallory = newApproverKey();
    world.deps.approvers = [
      { id: 'alice', publicKey: hexOfPublicKey(alice.publicKeyPem) },
      { id: 'mallory', publicKey: hexOfPublicKey(mallory.publicKeyPem) },
    ];
    const { next } = seedRotatable(world, 'checked-actions');
    const id = 'checked-actions';
    const outcome = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: id, certificatePem: next.certificatePem, overlap: '1h', approval: { required: true, timeout: '1h' }, requestedBy: 'mallory', retry: FAST_RETRY });
      const waiting = await phaseReached(handle, 'awaiting_approval');
      assert.deepEqual(waiting.requester, { id: 'unverified:mallory', verified: false });
      // Unsigned, self-approved, forged and wrongly bound approvals are refused and never recorded.
      assert.match(await refusal(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] })), /must be signed/);
      assert.match(await refusal(handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor(waiting, 'mallory', mallory.key) }] })), /four eyes/);
      const forged = approvalFor(waiting, 'alice', mallory.key);
      assert.match(await refusal(handle.executeUpdate(approveUpdate, { args: [{ approval: forged }] })), /does not verify/);
      const otherPins = approvalFor({ ...waiting, plannedPins: waiting.pinsBefore }, 'alice', alice.key);
      assert.match(await refusal(handle.executeUpdate(approveUpdate, { args: [{ approval: otherPins }] })), /other pins/);
      const otherRun = approvalFor({ ...waiting, runId: 'another-run' }, 'alice', alice.key);
      assert.match(await refusal(handle.executeUpdate(approveUpdate, { args: [{ approval: otherRun }] })), /another rotation run/);
      assert.equal((await handle.query(statusQuery)).approval, undefined);
      const early = await refusal(handle.executeUpdate(finalizeNowUpdate, { args: [{}] }));
      assert.match(early, /finalizeNow is valid only once the new pins are live.*awaiting_approval/);
      const still = await handle.query(statusQuery);
      assert.equal(still.phase, 'awaiting_approval');
      assert.equal(world.platform.patches.length, 0, 'nothing written before the approval');

      const accepted = await handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor(waiting, 'alice', alice.key) }] });
      assert.deepEqual(accepted, { accepted: true, action: 'approve', phase: 'awaiting_approval' });
      const twice = await refusal(handle.executeUpdate(approveUpdate, { args: [{ approval: approvalFor(waiting, 'alice', alice.key) }] }));
      assert.match(twice, /already approved by alice/);

      // The overlap is kept: the early finalize was not remembered.
      const live = await phaseReached(handle, 'overlap');
      assert.equal(live.approval?.by, 'alice');
      assert.equal(live.approval?.verified, true);
      // A signal cannot answer: a refused one is ignored and listed in the status.
      await handle.signal(approveSignal, { by: 'mallory' });
      for (let i = 0; i < 100 && (await handle.query(statusQuery)).refusedActions.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      const refused = (await handle.query(statusQuery)).refusedActions;
      assert.equal(refused.length, 1);
      assert.equal(refused[0].action, 'approve');
      assert.equal(refused[0].via, 'signal');
      assert.match(refused[0].reason, /already approved/);

      const finalizing = await handle.executeUpdate(finalizeNowUpdate, { args: [{ reason: 'clients moved' }] });
      assert.equal(finalizing.phase, 'overlap');
      return (await handle.result()) as RotationResult;
    });
    assert.equal(outcome.status, 'finalized', JSON.stringify(outcome.error));
    assert.deepEqual(world.pki.events.map((e) => e.event), ['certificate_rotation', 'rotation_finalized']);
    assert.deepEqual(world.pki.events.map((e) => [e.requester, e.approver]), [['unverified:mallory', 'alice'], ['unverified:mallory', 'alice']]);
    assert.deepEqual(world.audit.records.map((r) => [r.requester, r.approver]), [['unverified:mallory', 'alice']]);
  });

  test('a rollback update during the overlap restores the previous pins', async () => {
    const world = fakeWorld();
    const { current, next } = seedRotatable(world, 'rollback-update');
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: 'rollback-update', certificatePem: next.certificatePem, overlap: '1h', retry: FAST_RETRY });
      await phaseReached(handle, 'overlap');
      const accepted = await handle.executeUpdate(rollbackUpdate, { args: [{ reason: 'old clients failing' }] });
      assert.equal(accepted.phase, 'overlap');
      return (await handle.result()) as RotationResult;
    });
    assert.equal(result.status, 'rolled_back');
    assert.equal(result.error?.code, 'ROLLBACK_REQUESTED');
    const held = world.platform.clients.get('rollback-update')!;
    assert.equal(held.certificateChain, current.certificatePem);
    assert.deepEqual(held.pins, [current.pin]);
    assert.deepEqual(world.pki.events.map((e) => e.event), ['certificate_rotation', 'rotation_rolled_back']);
  });

  test('a 409 on apply is re-read and re-planned once; a second one after the re-plan gives up with nothing left written', async () => {
    const world = fakeWorld();
    const { current, next } = seedRotatable(world, 'conflicts');
    world.platform.conflicts.set('conflicts', 2);
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: 'conflicts', certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY });
      return failedResult(handle);
    });
    assert.equal(result.status, 'failed');
    assert.equal(result.error?.code, 'VersionConflict', JSON.stringify(result));
    assert.equal(world.platform.patches.length, 2);
    assert.deepEqual(world.platform.clients.get('conflicts')!.pins, [current.pin]);
  });

  /** Waits until `check` holds for the status, polling the query. */
  async function statusWhere(handle: WorkflowHandle, what: string, check: (s: RotationStatus) => boolean): Promise<RotationStatus> {
    for (let i = 0; i < 600; i++) {
      try {
        const s = await handle.query(statusQuery);
        if (check(s)) return s;
      } catch {
        // first workflow task not run yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`status never showed ${what}`);
  }

  test('drain: after the overlap the rotation waits in draining while the old certificate is used, refuses finalizeNow without force, then finalizes once quiet', async () => {
    const world = fakeWorld();
    const id = 'drain-waits';
    const { current, next } = seedRotatable(world, id);
    const timeline = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: id, certificatePem: next.certificatePem, overlap: '1s', drainQuiet: '2s', retry: FAST_RETRY });
      await phaseReached(handle, 'overlap');
      // An integration client still on the old certificate, then one that moved: both through the gateway's telemetry.
      let oldClient = true;
      const traffic = setInterval(() => world.platform.handshake(id, oldClient ? current.pin.sha256Spki : next.pin.sha256Spki), 100);
      try {
        const draining = await statusWhere(handle, 'draining with fallback traffic', (s) => s.phase === 'draining' && s.drain?.fallbackLastSeen != null);
        assert.equal(draining.drain?.state, 'draining');
        assert.equal(draining.status, 'rotated');
        assert.ok(draining.drain!.fallbackAccepted > 0);
        assert.ok(draining.drain!.nextCheckAt, 'the next check is shown');
        const refused = await refusal(handle.executeUpdate(finalizeNowUpdate, { args: [{}] }));
        assert.match(refused, /old certificate is still in use.*use force/);
        // Still pinned: the fallback is there while the old certificate is used.
        assert.ok(world.platform.clients.get(id)!.pins.some((p) => p.role === 'fallback'));
        oldClient = false;
        const movedAt = Date.now();
        const result = (await handle.result()) as RotationResult;
        const status = await handle.query(statusQuery);
        return { result, status, movedAt, endedAt: Date.now() };
      } finally {
        clearInterval(traffic);
      }
    });
    assert.equal(timeline.result.status, 'finalized', JSON.stringify(timeline.result.error));
    const s = timeline.status;
    // Finalized only after the fallback was quiet for drainQuiet (2 s) past its last handshake.
    const lastOld = Date.parse(s.drain!.fallbackLastSeen!);
    assert.ok(Date.parse(s.timestamps.finalizing!) - lastOld >= 2000, `finalizing ${s.timestamps.finalizing} vs last old handshake ${s.drain!.fallbackLastSeen}`);
    assert.ok(lastOld <= timeline.movedAt + 200);
    assert.deepEqual(world.platform.clients.get(id)!.pins.map((p) => p.role), ['primary']);
    // The pin match rate is the telemetry's: every handshake of this test matched an active pin until finalize.
    const since = Date.parse(s.timestamps.applied!);
    const counted = world.platform.handshakes.filter((h) => h.clientId === id && h.at >= since && h.at <= Date.parse(s.pinMatch!.measuredAt));
    assert.equal(timeline.result.pinMatch?.accepted, counted.filter((h) => h.spki !== null).length);
    assert.equal(timeline.result.pinMatchRate, timeline.result.pinMatch!.accepted / (timeline.result.pinMatch!.accepted + timeline.result.pinMatch!.rejected));
    assert.equal(world.audit.records[0].pinMatchRate, timeline.result.pinMatchRate);
  });

  test('drain: no traffic gives a null pin match rate, and a quiet fallback finalizes right after the overlap', async () => {
    const world = fakeWorld();
    const { next } = seedRotatable(world, 'drain-quiet');
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: 'drain-quiet', certificatePem: next.certificatePem, overlap: '1s', retry: FAST_RETRY });
      return (await handle.result()) as RotationResult;
    });
    assert.equal(result.status, 'finalized');
    assert.equal(result.pinMatchRate, null);
    assert.equal(world.audit.records[0].pinMatchRate, null);
  });

  /** What a run ran, in order: activity tasks by type, local activities by type (their markers), patch ids. */
  async function ranInHistory(handle: WorkflowHandle): Promise<{ tasks: string[]; local: string[]; patches: string[] }> {
    const ran = { tasks: [] as string[], local: [] as string[], patches: [] as string[] };
    for (const e of (await handle.fetchHistory()).events ?? []) {
      if (e.activityTaskScheduledEventAttributes) ran.tasks.push(e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      const marker = e.markerRecordedEventAttributes;
      const json = (key: string): Record<string, unknown> => JSON.parse(Buffer.from(marker!.details![key]!.payloads![0]!.data!).toString()) as Record<string, unknown>;
      if (marker?.markerName === 'core_local_activity') ran.local.push(String(json('data').activity_type));
      if (marker?.markerName === 'core_patch') ran.patches.push(String(json('patch-data').id));
    }
    return ran;
  }

  test('lean run, overlap 0s, quiet fallback: one telemetry reading, webhook and audit inside workflow tasks, one patch marker', async () => {
    const world = fakeWorld();
    const id = 'lean-quiet';
    const { next } = seedRotatable(world, id);
    const { result, ran } = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY });
      return { result: (await handle.result()) as RotationResult, ran: await ranInHistory(handle) };
    });
    assert.equal(result.status, 'finalized', JSON.stringify(result.error));
    // Platform calls: the read (with the chain validated for the client), apply, one reading, finalize.
    assert.deepEqual(ran.tasks, ['fetchClientAndValidate', 'applyPins', 'readHandshakes', 'applyPins']);
    assert.equal(world.platform.reads, 1, 'the reading at verify decided the quiet fallback and served the check after finalize');
    assert.equal(world.platform.patches.length, 2);
    assert.deepEqual(ran.local, ['notifyPki', 'notifyPki', 'writeAudit']);
    assert.deepEqual(ran.patches, ['lean-rotation-v1'], 'earlier patches apply without markers');
    assert.deepEqual(world.pki.events.map((e) => e.event), ['certificate_rotation', 'rotation_finalized']);
    assert.equal(world.audit.records.length, 1);
    assert.deepEqual(world.platform.clients.get(id)!.pins.map((p) => [p.role, p.sha256Spki]), [['primary', next.pin.sha256Spki]]);
  });

  test('lean run, overlap 0s, old certificate in use at verify: read again, drain, finalize only after drainQuiet', async () => {
    const world = fakeWorld();
    const id = 'lean-in-use';
    const { current, next } = seedRotatable(world, id);
    // A client on the old certificate connects once, just after Apply (stamped ahead: Apply's time is the task's).
    let lastOld = 0;
    world.platform.afterPatch = (client) => {
      if (lastOld === 0 && client.pins.some((p) => p.role === 'fallback')) {
        lastOld = Date.now() + 300;
        world.platform.handshake(id, current.pin.sha256Spki, lastOld);
      }
    };
    const { result, status } = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', drainQuiet: '2s', retry: FAST_RETRY });
      return { result: (await handle.result()) as RotationResult, status: await handle.query(statusQuery) };
    });
    assert.equal(result.status, 'finalized', JSON.stringify(result.error));
    assert.ok(lastOld > 0);
    assert.ok(status.timestamps.draining, 'it waited in phase draining');
    assert.ok(status.timestamps.live, 'it went live before waiting');
    assert.ok(world.platform.reads >= 3, `the fresh reading showed the fallback in use, so it read again and re-checked (${world.platform.reads} readings)`);
    assert.ok(Date.parse(status.timestamps.finalizing!) - lastOld >= 2000, `finalizing ${status.timestamps.finalizing} vs the old certificate's handshake at ${new Date(lastOld).toISOString()}`);
  });

  test('drain: at maxOverlap with the old certificate in use the rotation waits for an operator, who must force', async () => {
    const world = fakeWorld();
    const id = 'drain-max';
    const { current, next } = seedRotatable(world, id);
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: id, certificatePem: next.certificatePem, overlap: '1s', drainQuiet: '1h', maxOverlap: '3s', retry: FAST_RETRY });
      await phaseReached(handle, 'overlap');
      world.platform.handshake(id, current.pin.sha256Spki);
      const waiting = await statusWhere(handle, 'awaiting_operator', (s) => s.drain?.state === 'awaiting_operator');
      assert.equal(waiting.phase, 'draining');
      assert.match(waiting.drain!.reason, /waiting for an operator/);
      // It stays: nothing drops the pin by itself.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await handle.query(statusQuery)).drain?.state, 'awaiting_operator');
      assert.ok(world.platform.clients.get(id)!.pins.some((p) => p.role === 'fallback'));
      assert.match(await refusal(handle.executeUpdate(finalizeNowUpdate, { args: [{ reason: 'x' }] })), /still in use/);
      const forced = await handle.executeUpdate(finalizeNowUpdate, { args: [{ reason: 'accepted loss', force: true }] });
      assert.equal(forced.phase, 'draining');
      return (await handle.result()) as RotationResult;
    });
    assert.equal(result.status, 'finalized');
    assert.deepEqual(world.platform.clients.get(id)!.pins.map((p) => p.role), ['primary']);
  });

  test('finalizePolicy time finalizes when the timer ends, whatever the traffic', async () => {
    const world = fakeWorld();
    const id = 'drain-time';
    const { current, next } = seedRotatable(world, id);
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: id, certificatePem: next.certificatePem, overlap: '1s', finalizePolicy: 'time', retry: FAST_RETRY });
      await phaseReached(handle, 'overlap');
      world.platform.handshake(id, current.pin.sha256Spki);
      return (await handle.result()) as RotationResult;
    });
    assert.equal(result.status, 'finalized');
    assert.equal(result.pinMatch?.accepted, 1);
  });

  test('drain input is bounded: maxOverlap over 90d and a policy that does not exist are refused before anything changes', async () => {
    const world = fakeWorld();
    const { next } = seedRotatable(world, 'drain-bounds');
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: 'drain-bounds', certificatePem: next.certificatePem, maxOverlap: '91d', finalizePolicy: 'later' as never, retry: FAST_RETRY });
      return (await handle.result()) as RotationResult;
    });
    assert.equal(result.status, 'refused');
    assert.match(result.error!.message, /maxOverlap must be at most 90d.*|finalizePolicy must be/);
    assert.match(result.error!.message, /finalizePolicy must be "drain" or "time"/);
    assert.equal(world.platform.patches.length, 0);
  });

  test('a PKI manager refusing the rollback notice leaves the rotation rolled_back with a warning, not COMPENSATION_FAILED', async () => {
    const world = fakeWorld();
    const id = 'pki-refuses';
    const { current, next } = seedRotatable(world, id);
    const notify = world.pki.notify.bind(world.pki);
    world.pki.notify = async (body) => {
      if (body.event === 'rotation_rolled_back') throw ApplicationFailure.create({ type: 'PkiRejected', message: 'PKI manager answered 400', nonRetryable: true });
      return notify(body);
    };
    const result = await withWorkers(world, async (tq) => {
      const handle = await start(tq, { clientId: id, certificatePem: next.certificatePem, overlap: '1h', retry: FAST_RETRY });
      await phaseReached(handle, 'overlap');
      await handle.executeUpdate(rollbackUpdate, { args: [{ reason: 'test' }] });
      return (await handle.result()) as RotationResult;
    });
    assert.equal(result.status, 'rolled_back', JSON.stringify(result));
    assert.equal(result.error?.code, 'ROLLBACK_REQUESTED');
    assert.equal(result.warnings?.length, 1);
    assert.match(result.warnings![0], /PKI_NOTICE_REFUSED.*400/);
    assert.deepEqual(world.platform.clients.get(id)!.pins, [current.pin]);
    assert.deepEqual(world.audit.records.map((r) => [r.status, r.warnings?.length]), [['rolled_back', 1]]);
  });
});

/**
 * cpu: what one rotation costs the worker and the server, in CPU and in workflow tasks. One worker process on an
 * unconstrained platform, a warm-up fleet (JIT, bundle load, V8 contexts), then a measured fleet with overlap 0s.
 * Worker CPU per rotation is the process's own (every thread) and split by thread from /proc (main JS thread,
 * workflow threads, the SDK core's threads, GC and libuv); server CPU per rotation from /proc. Workflow tasks,
 * upserts and activities per rotation are counted from every measured rotation's history, so a workflow change
 * shows up here as a count before its CPU shows up as milliseconds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fleetWorkflowId } from '../../src/contract';
import { startFleet, waitForFleet } from '../../src/fleet/client';
import { busyShare, profileByOrigin, summarizeProfile } from '../cpu-profile';
import { processCpuSeconds } from '../fleet-run';
import { clientIds, seedClients, startPlatform, startWorkerProcess, uniqueSuffix, workerEnv, type Platform, type Temporal, type WorkerProcess } from '../stack';
import { round, type BenchContext, type Row, type ScenarioResult } from './types';

const TICKS = 100;

/** CPU seconds per thread of `pid`, keyed by the thread's name (comm), summed over threads of the same name. */
export function threadCpuSeconds(pid: number | undefined): Map<string, number> {
  const by = new Map<string, number>();
  if (!pid) return by;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return by;
  }
  for (const tid of tids) {
    try {
      const raw = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
      const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
      const key = `${threadGroup(name, tid === String(pid))} [${tid === String(pid) ? 'main' : name}]`;
      by.set(key, (by.get(key) ?? 0) + (Number(f[11]) + Number(f[12])) / TICKS);
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return by;
}

/** Thread names Node and the SDK's core give their threads, read as what they do. */
function threadGroup(name: string, isMain: boolean): string {
  if (isMain) return 'main JS thread (activities, SDK bridge, logging)';
  if (/^node$|WorkerThread|^worker/i.test(name)) return 'workflow threads (worker_threads: workflow code, sandbox, payload conversion)';
  if (/tokio|core|temporal/i.test(name)) return 'SDK core (Rust: gRPC, protobuf, TLS, state machines)';
  if (/V8|GC|DefaultWorker|DelayedTask/i.test(name)) return 'V8 platform (GC, compiler)';
  if (/libuv/i.test(name)) return 'libuv pool (crypto, fs)';
  return `other (${name})`;
}

function diff(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

export interface HistoryCounts {
  rotations: number;
  workflowTasks: number;
  upserts: number;
  activities: number;
  localActivities: number;
  timers: number;
  events: number;
  /** The fleet workflow's own tasks, per rotation it ran. */
  fleetWorkflowTasks: number;
}

/** Per-rotation averages from the histories of every pinRotation (and the fleet) on `taskQueue`. */
export async function countHistories(temporal: Temporal, taskQueue: string, fleetId: string): Promise<HistoryCounts> {
  const c: HistoryCounts = { rotations: 0, workflowTasks: 0, upserts: 0, activities: 0, localActivities: 0, timers: 0, events: 0, fleetWorkflowTasks: 0 };
  const query = `TaskQueue = '${taskQueue}' AND WorkflowType = 'pinRotation' AND ExecutionStatus != 'Running'`;
  type Event = Record<string, unknown> & { markerRecordedEventAttributes?: { markerName?: string | null } | null };
  // Each event carries the attributes of its type, so the attribute names the type.
  const count = (events: Event[], attributes: string): number => events.filter((e) => e[attributes] != null).length;
  const handles: Array<{ workflowId: string; runId: string }> = [];
  for await (const wf of temporal.client.workflow.list({ query })) handles.push({ workflowId: wf.workflowId, runId: wf.runId });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < handles.length) {
      const h = handles[next++];
      const events = ((await temporal.client.workflow.getHandle(h.workflowId, h.runId).fetchHistory()).events ?? []) as Event[];
      c.rotations += 1;
      c.workflowTasks += count(events, 'workflowTaskCompletedEventAttributes');
      c.upserts += count(events, 'upsertWorkflowSearchAttributesEventAttributes');
      c.activities += count(events, 'activityTaskScheduledEventAttributes');
      c.localActivities += events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
      c.timers += count(events, 'timerStartedEventAttributes');
      c.events += events.length;
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  const fleet = ((await temporal.client.workflow.getHandle(fleetId).fetchHistory()).events ?? []) as Event[];
  const n = Math.max(1, c.rotations);
  return {
    rotations: c.rotations,
    workflowTasks: c.workflowTasks / n,
    upserts: c.upserts / n,
    activities: c.activities / n,
    localActivities: c.localActivities / n,
    timers: c.timers / n,
    events: c.events / n,
    fleetWorkflowTasks: count(fleet, 'workflowTaskCompletedEventAttributes') / n,
  };
}

async function fleet(temporal: Temporal, platform: Platform, ids: string[], concurrency: number, taskQueue: string, fleetId: string): Promise<number> {
  const handle = await startFleet(temporal.client, { clients: ids.map((clientId) => ({ clientId })), concurrency, overlap: '0s', certSource: `file:${platform.nextPath}` }, { taskQueue, workflowId: fleetId });
  const result = await waitForFleet(handle, { pollMs: 500 });
  const finalized = result.summary?.byStatus.finalized ?? 0;
  if (finalized !== ids.length) {
    for await (const wf of temporal.client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND WorkflowType = 'pinRotation'` })) {
      const r = (await temporal.client.workflow.getHandle(wf.workflowId, wf.runId).result().catch((e: unknown) => e)) as { error?: unknown };
      throw new Error(`fleet ${fleetId}: a rotation ended ${JSON.stringify(r?.error ?? r)}`);
    }
  }
  if (finalized !== ids.length) throw new Error(`fleet ${fleetId} ended ${result.end} with ${finalized}/${ids.length} finalized: ${result.error ?? JSON.stringify(result.summary).slice(0, 1500)}`);
  return finalized;
}

export interface CpuRun {
  rotations: number;
  finalized: number;
  wallS: number;
  workerCpuMsPerRotation: number;
  serverCpuMsPerRotation: number;
  byThreadMsPerRotation: Record<string, number>;
  history: HistoryCounts;
}

export async function measureCpu(ctx: BenchContext, temporal: Temporal, opts: { rotations: number; concurrency: number; warmup: number; cpuProfDir?: string }): Promise<CpuRun> {
  const platform = await startPlatform(temporal.dir, { rateLimitPerMinute: 0 });
  const suffix = uniqueSuffix();
  const taskQueue = `bench-cpu-${suffix}`;
  let worker: WorkerProcess | undefined;
  try {
    const warm = clientIds(`cpuwarm-${suffix}`, opts.warmup);
    const ids = clientIds(`cpu-${suffix}`, opts.rotations);
    await seedClients(platform, [...warm, ...ids]);
    const env = workerEnv(temporal, platform, { taskQueue, rateLimitPerMinute: 1_000_000, logLevel: ctx.logLevel, auditPath: `${temporal.dir}/audit-${taskQueue}.jsonl` });
    // With --cpu-prof the main thread is profiled over the measured fleet only (the inspector, not --cpu-prof, which
    // would count start-up and warm-up); workflow threads are not reachable from it, their share comes from /proc.
    worker = await startWorkerProcess(temporal, env, { tuning: ctx.tuning, steadyProfileDir: opts.cpuProfDir, log: ctx.log });
    if (warm.length) await fleet(temporal, platform, warm, opts.concurrency, taskQueue, fleetWorkflowId(`bench-cpu-warmup-${suffix}`));
    ctx.log(`cpu: ${ids.length} rotations, concurrency ${opts.concurrency}, one worker process (after ${warm.length} warm-up rotations)`);
    await worker.reset();
    const pid = worker.child.pid;
    const threadsBefore = threadCpuSeconds(pid);
    const serverBefore = processCpuSeconds(temporal.server.process.pid);
    const started = performance.now();
    const fleetId = fleetWorkflowId(`bench-cpu-${suffix}`);
    const finalized = await fleet(temporal, platform, ids, opts.concurrency, taskQueue, fleetId);
    const wallS = (performance.now() - started) / 1000;
    const serverCpuS = processCpuSeconds(temporal.server.process.pid) - serverBefore;
    const byThread = diff(threadCpuSeconds(pid), threadsBefore);
    const usage = await worker.usage();
    const history = await countHistories(temporal, taskQueue, fleetId);
    const n = Math.max(1, finalized);
    return {
      rotations: ids.length,
      finalized,
      wallS: round(wallS, 1),
      workerCpuMsPerRotation: round((usage.cpuUserMs + usage.cpuSystemMs) / n, 1),
      serverCpuMsPerRotation: round((serverCpuS * 1000) / n, 1),
      byThreadMsPerRotation: Object.fromEntries([...byThread].filter(([, s]) => s > 0).map(([k, s]) => [k, round((s * 1000) / n, 1)])),
      history,
    };
  } finally {
    await worker?.stop();
    await platform.close();
  }
}

export async function runCpuScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const temporal = ctx.temporal!;
  const rotations = ctx.overrides.rotations ?? ctx.overrides.clients ?? (ctx.quick ? 100 : 300);
  const concurrency = ctx.overrides.concurrency ?? 20;
  const run = await measureCpu(ctx, temporal, { rotations, concurrency, warmup: Math.min(50, rotations), cpuProfDir: ctx.cpuProfDir });
  const h = run.history;
  const summary: Row[] = [
    {
      rotations: run.finalized,
      wallS: run.wallS,
      workerCpuMsPerRotation: run.workerCpuMsPerRotation,
      serverCpuMsPerRotation: run.serverCpuMsPerRotation,
      workflowTasksPerRotation: round(h.workflowTasks, 2),
      fleetTasksPerRotation: round(h.fleetWorkflowTasks, 2),
      upserts: round(h.upserts, 2),
      activities: round(h.activities, 2),
      localActivities: round(h.localActivities, 2),
      events: round(h.events, 1),
    },
  ];
  const threads: Row[] = Object.entries(run.byThreadMsPerRotation)
    .sort((a, b) => b[1] - a[1])
    .map(([thread, msPerRotation]) => ({ thread, msPerRotation, sharePct: round((msPerRotation / run.workerCpuMsPerRotation) * 100, 0) }));
  const tables = [
    { title: `cpu: worker CPU per rotation (one worker process, ${concurrency} rotations at a time, overlap 0s, log level ${ctx.logLevel}); workflow tasks, upserts and activities per rotation counted from the ${h.rotations} histories`, rows: summary },
    { title: 'cpu: worker CPU per rotation by thread (/proc/<pid>/task)', rows: threads },
  ];
  if (ctx.cpuProfDir) {
    for (const f of readdirSync(ctx.cpuProfDir).filter((x) => x.startsWith('steady-main-'))) {
      const file = join(ctx.cpuProfDir, f);
      tables.push({ title: `cpu: main thread over the measured fleet (busy ${round(busyShare(file) * 100, 1)}%), self time by origin (${file})`, rows: profileByOrigin(file, 20) });
      tables.push({ title: 'cpu: main thread over the measured fleet, top self-time functions', rows: summarizeProfile(file, 25) });
    }
  }
  return {
    scenario: 'cpu',
    tables,
    targets: [
      { scenario: 'cpu', target: 'worker CPU per rotation <= 25 ms', measured: `${run.workerCpuMsPerRotation} ms`, met: run.workerCpuMsPerRotation <= 25 },
      { scenario: 'cpu', target: 'every rotation finalized', measured: `${run.finalized}/${run.rotations}`, met: run.finalized === run.rotations },
    ],
    notes: ['a profiled run (--cpu-prof) pays for the profiler: compare CPU per rotation without it', 'the warm-up fleet and its rotations are not counted'],
    details: run,
  };
}

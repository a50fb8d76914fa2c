/**
 * cluster: the native production-shaped cluster (`pinrotate cluster start`: PostgreSQL + the Temporal server)
 * side by side with the dev server (SQLite, in memory) in one run. For each: rotations per second with 1, 2 and 3
 * worker processes on an unconstrained platform, worker CPU and server CPU per rotation (from /proc: the server
 * process, and on the cluster PostgreSQL's postmaster and backends too), and with 3 workers on a rate-limited
 * platform the share of the ceiling (limit / calls per rotation) reached. Every run uses the queue `pin-rotation`,
 * whose platform queue has one partition in both (dynamicconfig/pinrotate.yaml; the dev server's flag).
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startFleet, waitForFleet } from '../../src/fleet/client';
import { connectClient } from '../../src/starter';
import { startCluster } from '../../src/temporal/cluster';
import { freePort } from '../../src/temporal/net';
import type { DevServer } from '../../src/temporal/dev-server';
import { fleetWorkflowId, TASK_QUEUE } from '../../src/contract';
import { bundleWorkflows } from '../../src/workflow-bundle';
import { apiCounts } from '../fleet-run';
import { clientIds, seedClients, startPlatform, startWorkerProcess, uniqueSuffix, workerEnv, type Platform, type Temporal, type WorkerProcess } from '../stack';
import { round, type BenchContext, type Row, type ScenarioResult, type Target } from './types';

const TICKS = 100;

/** CPU seconds of a process and its live children (PostgreSQL's backends), plus children already reaped. */
export function treeCpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const read = (p: string): { ppid: number; cpu: number; reaped: number } | undefined => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICKS, reaped: (Number(f[13]) + Number(f[14])) / TICKS };
    } catch {
      return undefined;
    }
  };
  const self = read(String(pid));
  if (!self) return Number.NaN;
  let total = self.cpu + self.reaped;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const s = read(p);
    if (s && s.ppid === pid) total += s.cpu;
  }
  return total;
}

interface Server {
  name: string;
  temporal: Temporal;
  /** pids whose CPU counts as the server's. */
  pids: () => Array<number | undefined>;
  close(): Promise<void>;
}

async function bundle(dir: string): Promise<string> {
  const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never;
  const b = await bundleWorkflows(quiet);
  const path = join(dir, 'workflow-bundle.js');
  writeFileSync(path, b.code);
  return path;
}

async function startClusterServer(ctx: BenchContext): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'pinrotate-bench-cluster-'));
  // PostgreSQL runs as an unprivileged user when the bench runs as root.
  chmodSync(dir, 0o711);
  const cluster = await startCluster({ dataDir: join(dir, 'cluster'), port: await freePort(), uiPort: 0, progress: (m) => ctx.log(`cluster: ${m}`) });
  const client = await connectClient({ address: cluster.address, namespace: cluster.namespace }, { PATH: process.env.PATH });
  const server = { address: cluster.address, namespace: cluster.namespace, httpUrl: cluster.httpUrl, process: { pid: cluster.pids.server } as ChildProcess, stop: () => cluster.stop() } as DevServer;
  const temporal: Temporal = {
    server,
    client,
    bundlePath: await bundle(dir),
    dir,
    async close() {
      await client.connection.close();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return { name: 'cluster (PostgreSQL)', temporal, pids: () => [cluster.pids.server, cluster.pids.postgres], close: () => temporal.close() };
}

interface Run {
  server: string;
  workers: number;
  limitPerMin: number;
  rotations: number;
  finalized: number;
  wallS: number;
  rotationsPerS: number;
  workerCpuMsPerRotation: number;
  serverCpuMsPerRotation: number;
  callsPerRotation: number;
  ceilingPerMin: number;
  ofCeilingPct: number;
  http429: number;
}

async function measure(ctx: BenchContext, server: Server, workers: number, limit: number, n: number, concurrency: number): Promise<Run> {
  const t = server.temporal;
  const platform: Platform = await startPlatform(t.dir, { rateLimitPerMinute: limit });
  const suffix = uniqueSuffix();
  const ids = clientIds(`cl${workers}-${suffix}`, n);
  await seedClients(platform, ids);
  const procs: WorkerProcess[] = [];
  try {
    for (let i = 0; i < workers; i += 1) {
      const env = workerEnv(t, platform, { taskQueue: TASK_QUEUE, rateLimitPerMinute: limit || 1_000_000, logLevel: ctx.logLevel, auditPath: join(t.dir, `audit-${suffix}.jsonl`) });
      procs.push(await startWorkerProcess(t, env, { tuning: ctx.tuning, log: ctx.log }));
    }
    await Promise.all(procs.map((w) => w.reset()));
    const cpuBefore = server.pids().reduce<number>((s, pid) => s + treeCpuSeconds(pid), 0);
    const statsBefore = await platform.admin.stats();
    const started = performance.now();
    const handle = await startFleet(t.client, { clients: ids.map((clientId) => ({ clientId })), concurrency, overlap: '0s', certSource: `file:${platform.nextPath}` }, { taskQueue: TASK_QUEUE, workflowId: fleetWorkflowId(`bench-cluster-${suffix}`) });
    const result = await waitForFleet(handle, { pollMs: 1000 });
    const wallS = (performance.now() - started) / 1000;
    const serverCpuS = server.pids().reduce<number>((s, pid) => s + treeCpuSeconds(pid), 0) - cpuBefore;
    const usages = await Promise.all(procs.map((w) => w.usage()));
    const workerCpuMs = usages.reduce((s, u) => s + u.cpuUserMs + u.cpuSystemMs, 0);
    const api = apiCounts(statsBefore, await platform.admin.stats());
    const finalized = result.summary?.byStatus.finalized ?? 0;
    const callsPerRotation = api.ok / Math.max(1, finalized);
    const ceilingPerMin = limit ? limit / callsPerRotation : Number.NaN;
    const achievedPerMin = finalized / (wallS / 60);
    ctx.log(`${server.name}: ${workers} worker(s), limit ${limit || 'none'}: ${finalized}/${n} finalized in ${wallS.toFixed(1)} s`);
    return {
      server: server.name,
      workers,
      limitPerMin: limit,
      rotations: n,
      finalized,
      wallS: round(wallS, 1),
      rotationsPerS: round(finalized / wallS, 2),
      workerCpuMsPerRotation: round(workerCpuMs / Math.max(1, finalized), 1),
      serverCpuMsPerRotation: round((serverCpuS * 1000) / Math.max(1, finalized), 1),
      callsPerRotation: round(callsPerRotation, 2),
      ceilingPerMin: round(ceilingPerMin, 1),
      ofCeilingPct: limit ? round((achievedPerMin / ceilingPerMin) * 100, 1) : Number.NaN,
      http429: api.rateLimited429,
    };
  } finally {
    for (const w of procs) await w.stop();
    await platform.close();
  }
}

export async function runClusterScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const n = ctx.overrides.clients ?? (ctx.quick ? 60 : 200);
  const concurrency = ctx.overrides.concurrency ?? (ctx.quick ? 20 : 50);
  const limit = ctx.overrides.limit ?? (ctx.quick ? 300 : 600);
  const dev = ctx.temporal ?? (await ctx.startTemporal([]));
  const servers: Server[] = [{ name: 'dev server (SQLite)', temporal: dev, pids: () => [dev.server.process.pid], close: async () => (ctx.temporal ? undefined : dev.close()) }];
  const runs: Run[] = [];
  try {
    servers.push(await startClusterServer(ctx));
    for (const server of servers) {
      for (const workers of [1, 2, 3]) runs.push(await measure(ctx, server, workers, 0, n, concurrency));
      runs.push(await measure(ctx, server, 3, limit, n, concurrency));
    }
  } finally {
    for (const s of servers) await s.close();
  }
  const rows: Row[] = runs.map((r) => ({ ...r, limitPerMin: r.limitPerMin || '-' }));
  const limited = runs.filter((r) => r.limitPerMin > 0);
  const targets: Target[] = limited.map((r) => ({
    scenario: 'cluster',
    target: `>= 95% of the rate-limit ceiling with 3 workers (${r.server})`,
    measured: `${r.ofCeilingPct}%`,
    met: r.ofCeilingPct >= 95,
  }));
  targets.push(...runs.map((r) => ({ scenario: 'cluster', target: `every rotation finalized (${r.server}, ${r.workers} workers${r.limitPerMin ? `, limit ${r.limitPerMin}/min` : ''})`, measured: `${r.finalized}/${r.rotations}`, met: r.finalized === r.rotations })));
  return {
    scenario: 'cluster',
    tables: [{ title: `cluster: ${n} rotations (overlap 0s, concurrency ${concurrency}) on the native cluster beside the dev server; worker and server CPU per rotation from /proc`, rows }],
    targets,
    notes: [
      'server CPU on the cluster counts the Temporal server and PostgreSQL (postmaster and backends); on the dev server the one `temporal server start-dev` process',
      'the workers and both servers share this machine, so rotations per second on a small machine are bound by its cores, not by the cluster',
    ],
    details: { rotations: n, concurrency, limit, runs },
  };
}

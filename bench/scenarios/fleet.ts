/**
 * fleet: unconstrained platform (no rate limit), fleets of two sizes through Temporal with a fresh worker process
 * each (its peak RSS is its own), beside the direct baseline: the same activity code without Temporal,
 * sequentially and with the same concurrency. Also where the time goes (the worker's runtime histograms).
 */
import { loadWorkerConfig } from '../../src/config/worker-config';
import { busyShare, profileByOrigin, profiles, summarizeProfile } from '../cpu-profile';
import { runDirect, type DirectRun } from '../direct';
import { percentile, runFleet, type FleetRun } from '../fleet-run';
import type { HistogramDelta } from '../prom';
import { clientIds, seedClients, startPlatform, startWorkerProcess, uniqueSuffix, workerEnv, workerNodeOptions } from '../stack';
import { cpus } from 'node:os';
import { mb, round, type BenchContext, type Row, type ScenarioResult } from './types';

const ms = (x: number): number => round(x, 0);

/** The direct baseline runs in the bench process: no worker process, so no worker or server columns. */
const NO_WORKER = {
  peakRssMb: Number.NaN,
  peakHeapMb: Number.NaN,
  heapAfterGcMb: Number.NaN,
  rssAfterGcMb: Number.NaN,
  workerCpuS: Number.NaN,
  serverCpuS: Number.NaN,
  benchCpuS: Number.NaN,
  machineCpuPct: Number.NaN,
};

function latencyCells(sorted: readonly number[]): { p50Ms: number; p95Ms: number; p99Ms: number } {
  return { p50Ms: ms(percentile(sorted, 0.5)), p95Ms: ms(percentile(sorted, 0.95)), p99Ms: ms(percentile(sorted, 0.99)) };
}

function phaseRow(size: number, what: string, h: HistogramDelta | undefined): Row {
  return { clients: size, phase: what, count: h?.count ?? 0, meanMs: h ? ms(h.mean) : Number.NaN, p50MsBucket: h ? h.p50 : Number.NaN, p95MsBucket: h ? h.p95 : Number.NaN };
}

export async function runFleetScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const temporal = ctx.temporal!;
  const sizes = ctx.overrides.sizes ?? (ctx.quick ? [50, 200] : [100, 1000]);
  const concurrency = ctx.overrides.concurrency ?? (ctx.quick ? 20 : 50);
  const platform = await startPlatform(temporal.dir, { rateLimitPerMinute: 0 });
  const certSource = ctx.certSource === 'file' ? `file:${platform.nextPath}` : 'emulator-ca';
  const runs: FleetRun[] = [];
  const direct: Array<{ size: number; sequential: DirectRun; concurrent: DirectRun }> = [];
  const profile: Array<{ thread: string; file: string; busyPct: number; top: Row[]; byOrigin: Row[] }> = [];
  try {
    for (const size of sizes) {
      const suffix = uniqueSuffix();
      const taskQueue = `bench-fleet-${size}-${suffix}`;
      const ids = clientIds(`fleet${size}-${suffix}`, size);
      await seedClients(platform, ids);
      const env = workerEnv(temporal, platform, { taskQueue, rateLimitPerMinute: 1_000_000, logLevel: ctx.logLevel, auditPath: `${temporal.dir}/audit-${taskQueue}.jsonl` });
      const profiled = ctx.cpuProfDir && size === sizes[sizes.length - 1];
      const worker = await startWorkerProcess(temporal, env, { tuning: ctx.tuning, cpuProfDir: profiled ? ctx.cpuProfDir : undefined, log: ctx.log });
      try {
        ctx.log(`fleet: ${size} clients through Temporal, concurrency ${concurrency}, fresh worker process`);
        runs.push(await runFleet(temporal, platform, worker, { ids, concurrency, certSource, taskQueue, fleetId: `bench-fleet-${size}-${suffix}`, log: ctx.log }));
      } finally {
        await worker.stop();
      }
      if (profiled && ctx.cpuProfDir) {
        for (const { file, thread } of profiles(ctx.cpuProfDir)) {
          profile.push({ thread, file, busyPct: round(busyShare(file) * 100, 1), top: summarizeProfile(file), byOrigin: profileByOrigin(file) });
        }
      }

      // The baseline runs in this process against the same emulator, with the worker's own configuration.
      const config = loadWorkerConfig(env);
      const seqIds = clientIds(`direct-seq${size}-${suffix}`, Math.min(size, ctx.quick ? 50 : 100));
      const concIds = clientIds(`direct-conc${size}-${suffix}`, size);
      await seedClients(platform, [...seqIds, ...concIds]);
      ctx.log(`fleet: direct baseline for ${size}: ${seqIds.length} sequential, ${concIds.length} at concurrency ${concurrency}`);
      const sequential = await runDirect(config, seqIds, { concurrency: 1, certSource, runTag: `seq-${suffix}` });
      const concurrent = await runDirect(config, concIds, { concurrency, certSource, runTag: `conc-${suffix}` });
      direct.push({ size, sequential, concurrent });
    }
  } finally {
    await platform.close();
  }

  const rows: Row[] = [];
  const phases: Row[] = [];
  for (const run of runs) {
    const d = direct.find((x) => x.size === run.clients)!;
    const finalized = run.summary?.byStatus.finalized ?? 0;
    const rate = finalized / (run.wallMs / 1000);
    const directRate = d.concurrent.latencies.length / (d.concurrent.wallMs / 1000);
    rows.push({
      mode: 'temporal (fleetRotation)',
      clients: run.clients,
      concurrency: run.concurrency,
      finalized,
      wallS: round(run.wallMs / 1000, 1),
      rotPerS: round(rate, 1),
      ...latencyCells(run.latencies),
      peakRssMb: mb(run.usage.peakRss),
      peakHeapMb: mb(run.usage.peakHeapUsed),
      heapAfterGcMb: mb(run.usage.heapAfterGc),
      rssAfterGcMb: mb(run.usage.rssAfterGc),
      workerCpuS: round((run.usage.cpuUserMs + run.usage.cpuSystemMs) / 1000, 1),
      serverCpuS: round(run.serverCpuS, 1),
      benchCpuS: round(run.benchCpuS, 1),
      // Worker, server and bench (emulator) CPU over what the machine's cores could give in the wall time.
      machineCpuPct: round(((run.usage.cpuUserMs + run.usage.cpuSystemMs) / 1000 + run.serverCpuS + run.benchCpuS) / ((run.wallMs / 1000) * cpus().length) * 100, 0),
      vsDirect: `${round(directRate / rate, 2)}x slower`,
    });
    rows.push({
      mode: 'direct, same concurrency',
      clients: d.concurrent.clients,
      concurrency: d.concurrent.concurrency,
      finalized: d.concurrent.latencies.length,
      wallS: round(d.concurrent.wallMs / 1000, 1),
      rotPerS: round(directRate, 1),
      ...latencyCells(d.concurrent.latencies),
      ...NO_WORKER,
      vsDirect: 'baseline',
    });
    rows.push({
      mode: 'direct, sequential',
      clients: d.sequential.clients,
      concurrency: 1,
      finalized: d.sequential.latencies.length,
      wallS: round(d.sequential.wallMs / 1000, 1),
      rotPerS: round(d.sequential.latencies.length / (d.sequential.wallMs / 1000), 1),
      ...latencyCells(d.sequential.latencies),
      ...NO_WORKER,
      vsDirect: `p50 latency x${round(percentile(run.latencies, 0.5) / percentile(d.sequential.latencies, 0.5), 1)} in temporal`,
    });
    phases.push(
      phaseRow(run.clients, 'workflow task schedule-to-start', run.phases.workflowTaskScheduleToStart),
      phaseRow(run.clients, 'workflow task execution', run.phases.workflowTaskExecution),
      phaseRow(run.clients, 'platform activity schedule-to-start', run.phases.platformActivityScheduleToStart),
      phaseRow(run.clients, 'local activity schedule-to-start', run.phases.localActivityScheduleToStart),
      phaseRow(run.clients, 'activity execution', run.phases.activityExecution),
      phaseRow(run.clients, 'pinRotation end-to-end', run.phases.workflowEndToEnd),
      { clients: run.clients, phase: 'sticky cache hits / misses / forced evictions', count: `${run.stickyCache.hits} / ${run.stickyCache.misses} / ${run.stickyCache.forcedEvictions}`, meanMs: Number.NaN, p50MsBucket: Number.NaN, p95MsBucket: Number.NaN },
    );
  }
  const small = runs[0];
  const large = runs[runs.length - 1];
  const rssRatio = large && small ? large.usage.peakRss / small.usage.peakRss : Number.NaN;
  const failures = runs.reduce((n, r) => n + (r.clients - (r.summary?.byStatus.finalized ?? 0)), 0) + direct.reduce((n, d) => n + d.sequential.failed + d.concurrent.failed, 0);
  const workerProfile = `worker node flags: ${workerNodeOptions() || "Node's defaults"}, sticky cache ${ctx.tuning?.maxCachedWorkflows ?? 'WORKER_MAX_CACHED_WORKFLOWS (default 200)'}`;
  const tables = [
    { title: `fleet: unconstrained platform, overlap 0s, certificate source ${ctx.certSource}; ${workerProfile}; worker in its own process (peak RSS and main-thread heap sampled every 100 ms; after-GC values from a forced full GC at the end); direct = same activities without Temporal, in the bench process`, rows },
    { title: 'fleet: where the time goes (worker runtime histograms; bucket bounds for p50/p95; ms)', rows: phases },
  ];
  for (const p of profile) {
    tables.push({ title: `fleet: worker CPU profile at ${large?.clients} clients, ${p.thread} (busy ${p.busyPct}%), self time by origin (${p.file})`, rows: p.byOrigin });
    tables.push({ title: `fleet: worker CPU profile, ${p.thread}, top self-time functions`, rows: p.top });
  }
  return {
    scenario: 'fleet',
    tables,
    targets: [
      { scenario: 'fleet', target: `peak RSS at ${large?.clients} within 20% of that at ${small?.clients} (${workerProfile})`, measured: `${mb(large?.usage.peakRss ?? 0)} vs ${mb(small?.usage.peakRss ?? 0)} MB (x${round(rssRatio, 2)})`, met: rssRatio <= 1.2 },
      {
        scenario: 'fleet',
        target: `(diagnostic) main-thread heap retained after a full GC at ${large?.clients} within 20% of that at ${small?.clients}`,
        measured: `${mb(large?.usage.heapAfterGc ?? 0)} vs ${mb(small?.usage.heapAfterGc ?? 0)} MB`,
        met: (large?.usage.heapAfterGc ?? 0) <= 1.2 * (small?.usage.heapAfterGc ?? 0),
      },
      { scenario: 'fleet', target: 'every rotation finalized (temporal and direct)', measured: `${failures} not finalized`, met: failures === 0 },
    ],
    notes: [
      ...(profile.length ? [`--cpu-prof: the ${large?.clients}-client worker ran under the profiler, whose sample buffer grows with run time; its RSS is not comparable (run without --cpu-prof for the RSS target)`] : []),
      ...direct.flatMap((d) => [d.sequential.firstError, d.concurrent.firstError].filter((e): e is string => !!e).map((e) => `direct baseline error: ${e}`)),
    ],
    details: {
      concurrency,
      certSource: ctx.certSource,
      runs: runs.map((r) => ({ ...r, latencies: undefined, latency: latencyCells(r.latencies) })),
      direct: direct.map((d) => ({ size: d.size, sequential: { ...d.sequential, latencies: undefined, ...latencyCells(d.sequential.latencies) }, concurrent: { ...d.concurrent, latencies: undefined, ...latencyCells(d.concurrent.latencies) } })),
      profile,
    },
  };
}

/**
 * One measured fleet rotation through Temporal: `fleetRotation` over seeded clients with overlap 0s, timed from
 * start to close, with the emulator's request counts, each child's start→close time from visibility, the
 * worker's own RSS and CPU, and its Temporal runtime histograms (where the time went).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fleetWorkflowId } from '../src/contract';
import { startFleet, waitForFleet } from '../src/fleet/client';
import type { EmulatorStats } from '../src/emulator';
import type { FleetSummary } from '../src/contract';
import { counterDelta, histogramDelta, scrape, type HistogramDelta } from './prom';
import type { Log, Platform, Temporal, WorkerProcess, WorkerUsage } from './stack';

export interface ApiCounts {
  get: number;
  patch: number;
  list: number;
  /** Telemetry readings (`GET …/handshakes`): platform calls like the others, under the same rate limit. */
  handshakes: number;
  /** Every /api/ request, whatever its status. */
  total: number;
  /** /api/ requests answered 2xx. */
  ok: number;
  rateLimited429: number;
  tokenGrants: number;
  webhooks: number;
}

function sumStatuses(byStatus: Record<string, number> | undefined, pick: (status: number) => boolean = () => true): number {
  return Object.entries(byStatus ?? {}).reduce((n, [s, c]) => n + (pick(Number(s)) ? c : 0), 0);
}

/** What happened on the platform between two stats snapshots. */
export function apiCounts(before: EmulatorStats, after: EmulatorStats): ApiCounts {
  const delta = (key: string, pick?: (s: number) => boolean): number => sumStatuses(after.requests[key], pick) - sumStatuses(before.requests[key], pick);
  const apiKeys = [...new Set([...Object.keys(after.requests), ...Object.keys(before.requests)])].filter((k) => k.split(' ')[1]?.startsWith('/api/'));
  const ok = (s: number): boolean => s >= 200 && s < 300;
  return {
    get: delta('GET /api/v2/oauth/clients/{id}'),
    patch: delta('PATCH /api/v2/oauth/clients/{id}'),
    list: delta('GET /api/v2/oauth/clients'),
    handshakes: delta('GET /api/v2/oauth/clients/{id}/handshakes'),
    total: apiKeys.reduce((n, k) => n + delta(k), 0),
    ok: apiKeys.reduce((n, k) => n + delta(k, ok), 0),
    rateLimited429: after.rateLimited429 - before.rateLimited429,
    tokenGrants: after.tokenGrants - before.tokenGrants,
    webhooks: after.webhooks.received - before.webhooks.received,
  };
}

export interface Phases {
  workflowTaskScheduleToStart?: HistogramDelta;
  workflowTaskExecution?: HistogramDelta;
  platformActivityScheduleToStart?: HistogramDelta;
  localActivityScheduleToStart?: HistogramDelta;
  activityExecution?: HistogramDelta;
  workflowEndToEnd?: HistogramDelta;
}

/** CPU seconds a process has used (Linux /proc; NaN elsewhere). */
export function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name is cut; clock ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export interface FleetRun {
  clients: number;
  concurrency: number;
  wallMs: number;
  summary?: FleetSummary;
  end: string;
  /** Start→close of each child rotation, ms, sorted. */
  latencies: number[];
  api: ApiCounts;
  usage: WorkerUsage;
  /** CPU seconds over the run: the dev server, and this process (emulator, client, progress polling). */
  serverCpuS: number;
  benchCpuS: number;
  stickyCache: { hits: number; misses: number; forcedEvictions: number };
  phases: Phases;
}

/** Start→close of every pinRotation on `taskQueue`, from visibility (waits until all `expected` are listed as closed). */
async function rotationLatencies(temporal: Temporal, taskQueue: string, expected: number): Promise<number[]> {
  const query = `TaskQueue = '${taskQueue}' AND WorkflowType = 'pinRotation' AND ExecutionStatus != 'Running'`;
  let latencies: number[] = [];
  for (let tries = 0; tries < 20; tries += 1) {
    latencies = [];
    for await (const wf of temporal.client.workflow.list({ query })) {
      if (wf.closeTime) latencies.push(wf.closeTime.getTime() - wf.startTime.getTime());
    }
    if (latencies.length >= expected) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return latencies.sort((a, b) => a - b);
}

export async function runFleet(
  temporal: Temporal,
  platform: Platform,
  worker: WorkerProcess,
  opts: { ids: string[]; concurrency: number; certSource: string; taskQueue: string; fleetId: string; log: Log },
): Promise<FleetRun> {
  await worker.reset();
  const metricsBefore = await scrape(worker.metricsUrl);
  const statsBefore = await platform.admin.stats();
  const serverCpuBefore = processCpuSeconds(temporal.server.process.pid);
  const benchCpuBefore = process.cpuUsage();
  const started = performance.now();
  const handle = await startFleet(
    temporal.client,
    { clients: opts.ids.map((clientId) => ({ clientId })), concurrency: opts.concurrency, overlap: '0s', certSource: opts.certSource },
    { taskQueue: opts.taskQueue, workflowId: fleetWorkflowId(opts.fleetId) },
  );
  let lastShown = 0;
  const result = await waitForFleet(handle, {
    pollMs: 1000,
    onProgress: (p) => {
      if (performance.now() - lastShown > 10_000) {
        lastShown = performance.now();
        opts.log(`  ${p.done}/${p.total} done, ${p.running} running`);
      }
    },
  });
  const wallMs = performance.now() - started;
  const serverCpuS = processCpuSeconds(temporal.server.process.pid) - serverCpuBefore;
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const usage = await worker.usage();
  const statsAfter = await platform.admin.stats();
  const metricsAfter = await scrape(worker.metricsUrl);
  const latencies = await rotationLatencies(temporal, opts.taskQueue, opts.ids.length);
  const h = (name: string, match: Record<string, string> = {}): HistogramDelta | undefined => histogramDelta(metricsBefore, metricsAfter, name, match);
  const platformQueue = `${opts.taskQueue}-platform`;
  return {
    clients: opts.ids.length,
    concurrency: opts.concurrency,
    wallMs,
    summary: result.summary,
    end: result.end,
    latencies,
    api: apiCounts(statsBefore, statsAfter),
    usage,
    serverCpuS,
    benchCpuS: (benchCpu.user + benchCpu.system) / 1e6,
    stickyCache: {
      hits: counterDelta(metricsBefore, metricsAfter, 'temporal_sticky_cache_hit'),
      misses: counterDelta(metricsBefore, metricsAfter, 'temporal_sticky_cache_miss'),
      forcedEvictions: counterDelta(metricsBefore, metricsAfter, 'temporal_sticky_cache_total_forced_eviction'),
    },
    phases: {
      workflowTaskScheduleToStart: h('temporal_workflow_task_schedule_to_start_latency'),
      workflowTaskExecution: h('temporal_workflow_task_execution_latency'),
      platformActivityScheduleToStart: h('temporal_activity_schedule_to_start_latency', { task_queue: platformQueue }),
      localActivityScheduleToStart: h('temporal_activity_schedule_to_start_latency', { task_queue: opts.taskQueue }),
      activityExecution: h('temporal_activity_execution_latency'),
      workflowEndToEnd: h('temporal_workflow_endtoend_latency', { workflow_type: 'pinRotation' }),
    },
  };
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

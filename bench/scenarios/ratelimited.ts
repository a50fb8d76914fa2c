/**
 * ratelimited: the emulator enforces a per-token limit (fixed 60 s windows), the worker's platform queue is capped
 * at the same limit (PLATFORM_RATE_LIMIT_PER_MINUTE). Achieved rotations per minute against the ceiling
 * `limit / callsPerRotation`, the share of requests answered 429, and failed rotations. Run twice side by side:
 * on the shared dev server, whose task queues have one partition as `pinrotate dev` and the compose file's dynamic
 * config set them (the targets), and on one with Temporal's default of 4 partitions (the server splits
 * maxTaskQueueActivitiesPerSecond evenly over a queue's partitions and a partition without a backlog wastes its
 * share).
 */
import { runFleet, type FleetRun } from '../fleet-run';
import { clientIds, seedClients, startPlatform, startWorkerProcess, uniqueSuffix, workerEnv, type Temporal } from '../stack';
import { round, type BenchContext, type Row, type ScenarioResult, type Target } from './types';

interface Variant {
  name: string;
  run: FleetRun;
  finalized: number;
  failed: number;
  callsPerRotation: number;
  ceiling: number;
  achieved: number;
  share429: number;
}

async function measure(ctx: BenchContext, temporal: Temporal, name: string, limit: number, n: number, concurrency: number): Promise<Variant> {
  const platform = await startPlatform(temporal.dir, { rateLimitPerMinute: limit });
  const suffix = uniqueSuffix();
  const taskQueue = `bench-rl-${suffix}`;
  const ids = clientIds(`rl-${suffix}`, n);
  await seedClients(platform, ids);
  const env = workerEnv(temporal, platform, { taskQueue, rateLimitPerMinute: limit, logLevel: ctx.logLevel, auditPath: `${temporal.dir}/audit-${taskQueue}.jsonl` });
  const worker = await startWorkerProcess(temporal, env, { tuning: ctx.tuning, log: ctx.log });
  try {
    ctx.log(`ratelimited (${name}): ${n} clients, emulator limit ${limit}/min per token, PLATFORM_RATE_LIMIT_PER_MINUTE=${limit}, concurrency ${concurrency}`);
    const certSource = ctx.certSource === 'file' ? `file:${platform.nextPath}` : 'emulator-ca';
    const run = await runFleet(temporal, platform, worker, { ids, concurrency, certSource, taskQueue, fleetId: `bench-rl-${suffix}`, log: ctx.log });
    const finalized = run.summary?.byStatus.finalized ?? 0;
    const callsPerRotation = run.api.ok / Math.max(1, finalized);
    return {
      name,
      run,
      finalized,
      failed: n - finalized,
      callsPerRotation,
      ceiling: limit / callsPerRotation,
      achieved: finalized / (run.wallMs / 60_000),
      share429: run.api.rateLimited429 / Math.max(1, run.api.total),
    };
  } finally {
    await worker.stop();
    await platform.close();
  }
}

export async function runRateLimited(ctx: BenchContext): Promise<ScenarioResult> {
  const limit = ctx.overrides.limit ?? (ctx.quick ? 150 : 600);
  const n = ctx.overrides.clients ?? (ctx.quick ? 60 : 300);
  const concurrency = ctx.overrides.concurrency ?? (ctx.quick ? 20 : 50);
  const variants: Variant[] = [];
  const custom = ctx.serverArgs.filter((a) => !a.startsWith('--'));
  const shared = `1 partition per task queue (as configured)${custom.length ? ` with ${custom.join(' ')}` : ''}`;
  variants.push(await measure(ctx, ctx.temporal!, shared, limit, n, concurrency));
  let comparison: Variant | undefined;
  if (!ctx.serverArgs.some((a) => a.includes('numTaskqueueReadPartitions'))) {
    const fourPartitions = await ctx.startTemporal([], { taskQueuePartitions: 4 });
    try {
      comparison = await measure(ctx, fourPartitions, "4 partitions (Temporal's default; comparison)", limit, n, concurrency);
      variants.push(comparison);
    } finally {
      await fourPartitions.close();
    }
  }
  const rows: Row[] = variants.map((v) => ({
    server: v.name,
    limitPerMin: limit,
    clients: n,
    concurrency,
    wallS: round(v.run.wallMs / 1000, 1),
    finalized: v.finalized,
    failed: v.failed,
    callsPerRot: round(v.callsPerRotation, 2),
    ceilingRotPerMin: round(v.ceiling, 1),
    achievedRotPerMin: round(v.achieved, 1),
    ofCeilingPct: round((v.achieved / v.ceiling) * 100, 1),
    apiReqPerMin: round(v.run.api.total / (v.run.wallMs / 60_000), 1),
    apiRequests: v.run.api.total,
    http429: v.run.api.rateLimited429,
    share429Pct: round(v.share429 * 100, 2),
  }));
  const targets: Target[] = variants.filter((v) => v !== comparison).flatMap((v) => [
    { scenario: 'ratelimited', target: `>= 95% of the ceiling limit/callsPerRotation (${v.name})`, measured: `${round((v.achieved / v.ceiling) * 100, 1)}%`, met: v.achieved / v.ceiling >= 0.95 },
    { scenario: 'ratelimited', target: `<= 1% of requests answered 429 (${v.name})`, measured: `${round(v.share429 * 100, 2)}%`, met: v.share429 <= 0.01 },
    { scenario: 'ratelimited', target: `no failed rotations (${v.name})`, measured: String(v.failed), met: v.failed === 0 },
  ]);
  return {
    scenario: 'ratelimited',
    tables: [{ title: `ratelimited: per-token limit ${limit}/min on the emulator (fixed 60 s windows), the platform queue capped at the same rate`, rows }],
    targets,
    notes: [
      "wall time runs from the fleet's start to its close (the fleet's start-up and the last rotation's webhook and audit included); a run of about a minute can exceed 100% because the first window starts full",
      ...(comparison
        ? [`with Temporal's default 4 partitions: ${round((comparison.achieved / comparison.ceiling) * 100, 1)}% of the ceiling, ${round(comparison.share429 * 100, 2)}% answered 429, ${comparison.failed} failed (a comparison, not a target: the server splits the queue's rate cap over its partitions)`]
        : []),
    ],
    details: { limit, clients: n, concurrency, certSource: ctx.certSource, variants: variants.map((v) => ({ ...v, run: { ...v.run, latencies: undefined } })) },
  };
}

/**
 * long-overlap: a fleet whose children keep a one-hour overlap, on a platform with a per-token rate limit. A child
 * frees its slot once live (DESIGN.md §4 Fleet), so the time until every client is live should be set by the
 * platform's rate, not by the overlap: the floor is clients × calls to go live ÷ limit. "Live" is measured where it
 * shows: the PKI receiver processed the client's `certificate_rotation` (the pins are applied, verified and
 * announced). The calls are counted by the emulator between the fleet's start and the last client going live.
 */
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fleetWorkflowId } from '../../src/contract';
import { startFleet } from '../../src/fleet/client';
import { apiCounts } from '../fleet-run';
import { clientIds, seedClients, startPlatform, startWorkerProcess, uniqueSuffix, workerEnv } from '../stack';
import { round, type BenchContext, type Row, type ScenarioResult } from './types';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls a rotation needs to go live when nothing fails (GET client, PATCH; a token grant is not an /api/ call): for the time-out only. */
const EXPECTED_CALLS_PER_CLIENT = 3;

export async function runLongOverlap(ctx: BenchContext): Promise<ScenarioResult> {
  const temporal = ctx.temporal!;
  const limit = ctx.overrides.limit ?? (ctx.quick ? 120 : 300);
  const n = ctx.overrides.clients ?? (ctx.quick ? 40 : 100);
  const concurrency = ctx.overrides.concurrency ?? (ctx.quick ? 5 : 10);
  const overlap = '1h';
  const platform = await startPlatform(temporal.dir, { rateLimitPerMinute: limit });
  const suffix = uniqueSuffix();
  const taskQueue = `bench-long-${suffix}`;
  // The fleet's own id scheme (pin-fleet-…): children tell their parent they are live only under it.
  const fleetId = fleetWorkflowId(`bench-long-${suffix}`);
  const ids = clientIds(`long-${suffix}`, n);
  await seedClients(platform, ids);
  // The `file:` source's directory is the only one the worker may read certificates from.
  const env = { ...workerEnv(temporal, platform, { taskQueue, rateLimitPerMinute: limit, logLevel: ctx.logLevel, auditPath: `${temporal.dir}/audit-${taskQueue}.jsonl` }), CERT_SOURCE_DIRS: dirname(platform.nextPath) };
  const worker = await startWorkerProcess(temporal, env, { tuning: ctx.tuning, log: ctx.log });
  const certSource = ctx.certSource === 'file' ? `file:${platform.nextPath}` : 'emulator-ca';
  const idSet = new Set(ids);
  const liveAt = new Map<string, number>();
  let timedOut = false;
  let wallMs = Number.NaN;
  let api: ReturnType<typeof apiCounts> | undefined;
  try {
    ctx.log(`long-overlap: ${n} clients, overlap ${overlap}, concurrency ${concurrency}, emulator limit ${limit}/min per token (worker paced to it)`);
    const before = await platform.admin.stats();
    const startedWall = Date.now();
    const started = performance.now();
    await startFleet(temporal.client, { clients: ids.map((clientId) => ({ clientId })), concurrency, overlap, certSource }, { taskQueue, workflowId: fleetId });
    // A generous time-out: three times the expected floor, plus a minute of start-up.
    const deadline = started + 3 * ((n * EXPECTED_CALLS_PER_CLIENT) / limit) * 60_000 + 60_000;
    let lastShown = 0;
    while (liveAt.size < n) {
      const { deliveries } = await platform.admin.webhooks();
      for (const d of deliveries) {
        const body = d.body as { event?: string; clientId?: string } | null;
        if (d.status >= 200 && d.status < 300 && !d.duplicate && body?.event === 'certificate_rotation' && body.clientId && idSet.has(body.clientId) && !liveAt.has(body.clientId)) {
          liveAt.set(body.clientId, Date.parse(d.receivedAt) - startedWall);
        }
      }
      if (performance.now() > deadline) {
        timedOut = true;
        break;
      }
      if (performance.now() - lastShown > 10_000) {
        lastShown = performance.now();
        ctx.log(`  ${liveAt.size}/${n} live after ${round((performance.now() - started) / 1000, 0)} s`);
      }
      if (liveAt.size < n) await sleep(250);
    }
    wallMs = liveAt.size > 0 ? Math.max(...liveAt.values()) : Number.NaN;
    api = apiCounts(before, await platform.admin.stats());
  } finally {
    // The children would otherwise sit in their hour of overlap: end the fleet and every rotation without compensating.
    await temporal.client.workflow
      .getHandle(fleetId)
      .terminate('bench over')
      .catch(() => undefined);
    for await (const wf of temporal.client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
      await temporal.client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .terminate('bench over')
        .catch(() => undefined);
    }
    await worker.stop();
    await platform.close();
  }
  const live = liveAt.size;
  // Calls until the last client went live; a few telemetry reads of live children may be among them (counted: they share the limit).
  const calls = api?.ok ?? Number.NaN;
  const callsPerClient = calls / Math.max(1, live);
  const floorMs = ((n * callsPerClient) / limit) * 60_000;
  const ratio = wallMs / floorMs;
  const sorted = [...liveAt.values()].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  const rows: Row[] = [
    {
      clients: n,
      concurrency,
      overlap,
      limitPerMin: limit,
      live,
      apiCallsOk: calls,
      callsPerClient: round(callsPerClient, 2),
      http429: api?.rateLimited429 ?? Number.NaN,
      floorS: round(floorMs / 1000, 1),
      allLiveS: round(wallMs / 1000, 1),
      halfLiveS: round(at(0.5) / 1000, 1),
      firstLiveS: round(at(0) / 1000, 1),
      vsFloor: `x${round(ratio, 3)}`,
    },
  ];
  return {
    scenario: 'long-overlap',
    tables: [{ title: `long-overlap: a fleet with overlap ${overlap}; time until every client is live (certificate_rotation processed) against the floor clients × calls to go live ÷ limit`, rows }],
    targets: [
      { scenario: 'long-overlap', target: `every client live (${n}) while the overlap (${overlap}) still runs`, measured: `${live}/${n}${timedOut ? ' (timed out)' : ''}`, met: live === n },
      { scenario: 'long-overlap', target: 'time until every client is live within 10% of the rate-limit floor', measured: `${round(wallMs / 1000, 1)} s vs floor ${round(floorMs / 1000, 1)} s (x${round(ratio, 3)})`, met: live === n && ratio <= 1.1 },
    ],
    notes: [
      'the floor uses the calls the emulator answered 2xx between the fleet start and the last client going live, divided by the live clients; 429s are shown apart',
      "the emulator's limit is a fixed 60 s window per token, the worker's platform queue is paced to the same rate (PLATFORM_RATE_LIMIT_PER_MINUTE)",
    ],
    details: { limit, clients: n, concurrency, overlap, certSource: ctx.certSource, liveAtMs: Object.fromEntries(liveAt), api, floorMs, wallMs, timedOut },
  };
}

/**
 * `npm run chaos`: rotations under fire, with real processes. The emulator and the worker run as `pinrotate`
 * child processes, the Temporal dev server on a SQLite file; while N rotations of distinct clients run, the worker
 * is SIGKILLed and restarted K times, the dev server is stopped and restarted once on the same file and ports, the
 * platform answers 503s, resets and a 429 storm with Retry-After, PATCH answers get lost after the write (a proxy
 * between worker and platform), and the PKI receiver goes down for a while.
 * Then every rotation must have ended in the outcome its scenario asks for, with the platform, the PKI receiver and
 * the audit file all agreeing (chaos/checks.ts). Exit 1 on any violation.
 *
 *   npm run chaos -- --quick                  the CI version (< 2 minutes, fixed seed)
 *   npm run chaos -- --rotations 40 --kills 6 [--seed S] [--json] [--keep]
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { localWorkerEnv, writeWorkerEnvFile } from '../src/config/worker-env';
import { loadWorkerConfig } from '../src/config/worker-config';
import { EmulatorAdmin } from '../src/emulator/admin-client';
import type { AdminClientState, EmulatorStats, WebhookDelivery } from '../src/emulator/types';
import { describeCertificate, pinFromInfo } from '../src/pins/digest';
import { connectClient, queryStatus, RotationAlreadyRunningError, signalRotation, startRotation, rotationHandle } from '../src/starter';
import { ensureTemporalCli } from '../src/temporal/cli-binary';
import { startDevServer, type DevServer, type DevServerOptions } from '../src/temporal/dev-server';
import { freePort } from '../src/temporal/net';
import { rotationResultOfFailure, rotationWorkflowId, TASK_QUEUE, type RotationInput, type RotationResult } from '../src/contract';
import { checkAudit, checkOutcomes, checkPlatform, checkWebhooks, EXPECTED_OUTCOME, type ObservedRotation, type PlannedRotation, type RotationKind, type Violation } from './checks';
import { LossyProxy } from './lossy-proxy';
import { startEmulatorProcess, WorkerSupervisor, type EmulatorProcess } from './processes';
import { Prng } from './prng';

interface ChaosOptions {
  quick: boolean;
  rotations: number;
  kills: number;
  seed: number;
  json: boolean;
  keep: boolean;
  rateLimit: number;
  /** After the last start, how long rotations may take to end before the still-running ones count as violations. */
  deadlineMs: number;
  /** Pause between chaos events, ms. */
  gapMs: [number, number];
  /** The short overlap timer. */
  shortOverlap: string;
  /** How long the PKI receiver stays down, ms. */
  webhookOutageMs: number;
  /** Injected platform faults per burst. */
  faults: { unavailable: number; resets: number; storm: number; retryAfterSeconds: number; lostAnswers: number };
}

const USAGE = `usage: npm run chaos -- [--quick] [--rotations N] [--kills K] [--seed S] [--json] [--keep]

  --quick          a short run for CI (8 rotations, 2 worker kills, fixed seed 1; under 2 minutes)
  --rotations N    rotations of distinct clients (default 20)
  --kills K        worker SIGKILLs (default 4)
  --seed S         seed of the chaos plan (default random; printed)
  --rate-limit R   the emulator's requests per minute per token (default 600)
  --json           print the results as JSON instead of the table
  --keep           keep the data dir (logs, SQLite, audit file); kept anyway when a violation is found
`;

function parseOptions(argv: string[]): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      rotations: { type: 'string' },
      kills: { type: 'string' },
      seed: { type: 'string' },
      'rate-limit': { type: 'string' },
      json: { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (value: string | undefined, name: string, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const quick = Boolean(values.quick);
  const rotations = int(values.rotations, 'rotations', quick ? 8 : 20, 1);
  return {
    quick,
    rotations,
    kills: int(values.kills, 'kills', quick ? 2 : 4, 0),
    seed: int(values.seed, 'seed', quick ? 1 : randomBytes(4).readUInt32BE(0) % 1_000_000, 0),
    json: Boolean(values.json),
    keep: Boolean(values.keep),
    rateLimit: int(values['rate-limit'], 'rate-limit', 600, 0),
    deadlineMs: quick ? 180_000 : 600_000 + rotations * 5_000,
    gapMs: quick ? [1_500, 4_000] : [3_000, 10_000],
    shortOverlap: quick ? '8s' : '20s',
    webhookOutageMs: quick ? 5_000 : 15_000,
    faults: quick ? { unavailable: 4, resets: 2, storm: 8, retryAfterSeconds: 1, lostAnswers: 3 } : { unavailable: 15, resets: 4, storm: 30, retryAfterSeconds: 2, lostAnswers: 8 },
  };
}

const KIND_CYCLE: readonly RotationKind[] = ['immediate', 'short-overlap', 'finalize-now', 'rollback', 'refused', 'immediate', 'short-overlap', 'finalize-now', 'rollback'];

/** Retry tuning of every rotation: short intervals so the run ends fast, attempts enough to outlast every burst. */
const CHAOS_RETRY: NonNullable<RotationInput['retry']> = { initialInterval: '100ms', maximumInterval: '1s', maximumAttempts: 300 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type ChaosEvent = 'worker-kill' | 'server-restart' | 'platform-503' | 'platform-429-storm' | 'platform-lost-answers' | 'webhook-outage';

interface Counts {
  rotations: number;
  byOutcome: Record<string, number>;
  workerKills: number;
  workerStarts: number;
  workerUnexpectedExits: number;
  serverRestarts: number;
  faultsInjected: number;
  served503: number;
  served429: number;
  connectionResets: number;
  /** PATCHes the platform processed whose answer never reached the worker. */
  lostAnswers: number;
  webhookOutages: number;
  webhookDeliveries: number;
  webhookDuplicates: number;
  violations: number;
  wallMs: number;
}

function repoRoot(): string {
  // dist/chaos/run.js → the repository; a build elsewhere (another --outDir) falls back to the working directory.
  for (let dir = __dirname, i = 0; i < 4; dir = dirname(dir), i += 1) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'genesys-pin-rotation') return dir;
    } catch {
      // keep looking
    }
  }
  return process.cwd();
}

export async function runChaos(opts: ChaosOptions): Promise<{ counts: Counts; violations: Violation[]; results: object }> {
  const started = Date.now();
  const prng = new Prng(opts.seed);
  const progress = (m: string): void => {
    process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}\n`);
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'pinrotate-chaos-'));
  progress(`seed ${opts.seed}, ${opts.rotations} rotations, ${opts.kills} worker kills, data in ${dataDir}`);

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };
  const onSignal = (): void => {
    progress('interrupted: stopping every process this run started');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const violations: Violation[] = [];
  let serverRestarts = 0;
  let webhookOutages = 0;
  let kept = opts.keep;
  try {
    // --- The Temporal dev server on a SQLite file and fixed ports, so a restart is the same server.
    const cli = await ensureTemporalCli(progress);
    if (!cli) throw new Error('no Temporal CLI available (set TEMPORAL_CLI_PATH, put `temporal` on PATH, or install Go so it can be built)');
    const serverLog = join(dataDir, 'temporal.log');
    const serverOpts: DevServerOptions = {
      cliPath: cli.path,
      dbFilename: join(dataDir, 'temporal.sqlite'),
      port: await freePort(),
      uiPort: await freePort(),
      httpPort: await freePort(),
      headless: true,
      onLog: (line) => appendFileSync(serverLog, `${line}\n`),
    };
    const adminToken = randomBytes(18).toString('base64url');
    const [firstServer, emulator] = await Promise.all([startDevServer(serverOpts), startEmulatorProcess({ dataDir, rateLimit: opts.rateLimit, adminToken })]);
    let server: DevServer = firstServer;
    cleanups.push(() => server.stop());
    cleanups.push(() => emulator.stop());
    progress(`dev server on ${server.address} (${cli.source} CLI), emulator on ${emulator.details.url} (pid ${emulator.child.pid})`);
    const admin = new EmulatorAdmin(emulator.details.url, emulator.details.adminToken);
    // The worker reaches the platform through a proxy that can lose answers; the control plane is reached directly.
    const proxy = new LossyProxy(emulator.details.url);
    const gatewayUrl = await proxy.start();
    cleanups.push(() => proxy.close());

    // --- The worker's configuration, as `pinrotate dev` writes it (src/cli/stack.ts).
    const envFile = writeWorkerEnv(dataDir, server, emulator, gatewayUrl, await seedWorkerClient(admin), opts.rateLimit);
    const worker = new WorkerSupervisor({ dataDir, envFile, readyTimeoutMs: 120_000, progress }, {
      onUnexpectedExit: ({ generation, code, signal, tail }) => {
        violations.push({ check: 'worker', message: `worker #${generation} exited on its own (${signal ?? code}); last output:\n${tail.split('\n').slice(-5).join('\n')}` });
        progress(`worker #${generation} exited on its own (${signal ?? code}); restarting it`);
      },
    });
    cleanups.push(() => worker.stop());

    // --- Clients: distinct ids, so a repeated Idempotency-Key can only mean double processing.
    const kinds = prng.shuffle(Array.from({ length: opts.rotations }, (_, i) => KIND_CYCLE[i % KIND_CYCLE.length]));
    progress(`seeding ${opts.rotations} clients and starting the worker`);
    const [planned] = await Promise.all([seedClients(admin, opts.seed, kinds), worker.start()]);
    progress(`worker up (pid ${worker.pid})`);

    const client = await connectClient({ address: server.address, namespace: server.namespace }, { PATH: process.env.PATH });
    cleanups.push(() => client.connection.close());

    // --- Rotations start spread over the chaos window; chaos events run meanwhile; signals go out during overlaps.
    const events: ChaosEvent[] = prng.shuffle([...Array.from({ length: opts.kills }, () => 'worker-kill' as const), 'server-restart', 'platform-503', 'platform-429-storm', 'platform-lost-answers', 'webhook-outage']);
    // Faults are consumed by the requests that come after them: keep them in the first half, while rotations run.
    const faultEvents: readonly ChaosEvent[] = ['platform-503', 'platform-429-storm', 'platform-lost-answers'];
    const half = Math.floor(events.length / 2);
    for (const fault of faultEvents) {
      const at = events.indexOf(fault);
      const free = events.map((_, i) => i).filter((i) => i <= half && !faultEvents.includes(events[i]));
      if (at > half && free.length > 0) {
        const to = prng.pick(free);
        [events[at], events[to]] = [events[to], events[at]];
      }
    }
    const gaps = events.map(() => prng.int(opts.gapMs[0], opts.gapMs[1]));
    const windowMs = gaps.reduce((a, b) => a + b, 0);
    const startGaps = planned.map(() => prng.int(0, Math.floor((2 * windowMs) / (planned.length + 1))));
    const signalDelays = planned.map(() => prng.int(500, opts.quick ? 4_000 : 12_000));
    const downtimes = events.map(() => prng.int(500, 3_000));
    progress(`plan: ${events.join(', ')} over ~${Math.round(windowMs / 1000)}s`);

    const startedRotations = new Set<string>();
    const pending: Promise<unknown>[] = [];
    const starter = (async () => {
      for (const [i, r] of planned.entries()) {
        await sleep(startGaps[i]);
        await retrying(`start ${r.workflowId}`, async () => {
          try {
            await startRotation(client, rotationInput(r, opts), TASK_QUEUE);
          } catch (err) {
            // A start whose answer was lost to a server restart: it did start.
            if (!(err instanceof RotationAlreadyRunningError)) throw err;
          }
        });
        startedRotations.add(r.clientId);
        if (r.kind === 'finalize-now' || r.kind === 'rollback') pending.push(signalDuringOverlap(client, r, signalDelays[i], progress));
      }
      progress(`all ${planned.length} rotations started`);
    })();

    const chaos = (async () => {
      for (const [i, event] of events.entries()) {
        await sleep(gaps[i]);
        switch (event) {
          case 'worker-kill': {
            const pid = worker.pid;
            await worker.kill();
            progress(`SIGKILLed worker pid ${pid} (${worker.kills}/${opts.kills}); ${startedRotations.size} rotations started so far`);
            await sleep(downtimes[i]);
            await worker.start();
            progress(`worker restarted (pid ${worker.pid})`);
            break;
          }
          case 'server-restart': {
            progress('stopping the Temporal dev server');
            await server.stop();
            await sleep(downtimes[i] + 1_000);
            server = await startDevServer(serverOpts);
            serverRestarts += 1;
            progress(`dev server back on ${server.address}, same SQLite file`);
            break;
          }
          case 'platform-503': {
            for (const method of ['GET', 'PATCH']) {
              await admin.addFault({ method, pathPrefix: '/api/v2/oauth/clients', status: 503, times: opts.faults.unavailable });
              await admin.addFault({ method, pathPrefix: '/api/v2/oauth/clients', status: 0, times: opts.faults.resets });
            }
            progress(`queued ${2 * opts.faults.unavailable} 503s and ${2 * opts.faults.resets} connection resets on GET/PATCH clients`);
            break;
          }
          case 'platform-429-storm': {
            for (const method of ['GET', 'PATCH']) {
              await admin.addFault({ method, pathPrefix: '/api/v2/oauth/clients', status: 429, times: opts.faults.storm, retryAfter: opts.faults.retryAfterSeconds });
            }
            progress(`queued a 429 storm: ${2 * opts.faults.storm} answers with Retry-After ${opts.faults.retryAfterSeconds}s`);
            break;
          }
          case 'platform-lost-answers': {
            proxy.loseAnswers('PATCH', '/api/v2/oauth/clients/', opts.faults.lostAnswers);
            progress(`the next ${opts.faults.lostAnswers} processed PATCHes lose their answer`);
            break;
          }
          case 'webhook-outage': {
            await admin.failWebhooks({ status: 503, times: 1_000_000 });
            webhookOutages += 1;
            progress(`PKI receiver down for ${opts.webhookOutageMs / 1000}s`);
            pending.push(
              sleep(opts.webhookOutageMs).then(async () => {
                await retrying('bring the PKI receiver back', () => admin.failWebhooks({ status: 503, times: 0 }));
                progress('PKI receiver back up');
              }),
            );
            break;
          }
        }
      }
      progress('chaos plan done');
    })();

    await Promise.all([starter, chaos]);
    await Promise.all(pending);

    // --- Wait until every rotation is terminal (or the deadline says one is stuck).
    const observed = await waitForTerminal(client, planned, opts.deadlineMs, progress);
    await admin.clearFaults();

    // --- Gather what the platform, the PKI receiver and the audit file say, and check it.
    const clients = new Map<string, AdminClientState>();
    for (const r of planned) clients.set(r.clientId, await admin.getClient(r.clientId));
    const { deliveries } = await admin.webhooks();
    const stats = await admin.stats();
    const auditPath = join(dataDir, 'audit.jsonl');
    const auditText = existsSync(auditPath) ? readFileSync(auditPath, 'utf8') : '';
    violations.push(...checkOutcomes(observed), ...checkPlatform(observed, clients), ...checkWebhooks(observed, deliveries), ...checkAudit(observed, auditText));

    const counts = countUp({ observed, stats, deliveries, worker, lostAnswers: proxy.lost, serverRestarts, webhookOutages, violations, wallMs: Date.now() - started });
    if (violations.length > 0) kept = true;
    const results = {
      seed: opts.seed,
      options: { quick: opts.quick, rotations: opts.rotations, kills: opts.kills, rateLimit: opts.rateLimit },
      plan: events,
      counts,
      violations,
      rotations: observed.map((r) => ({
        clientId: r.clientId,
        kind: r.kind,
        expected: EXPECTED_OUTCOME[r.kind],
        executionStatus: r.executionStatus ?? null,
        status: r.result?.status ?? null,
        error: r.result?.error ?? null,
      })),
      emulatorStats: stats,
      dataDir: kept ? dataDir : null,
      finishedAt: new Date().toISOString(),
    };
    return { counts, violations, results };
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (kept) progress(`data kept in ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
}

async function seedWorkerClient(admin: EmulatorAdmin): Promise<{ id: string; secret: string }> {
  const worker = { id: 'pinrotate-worker', secret: randomBytes(24).toString('base64url') };
  await admin.createClient({ id: worker.id, name: 'pinrotate worker', secret: worker.secret, mtlsRequired: false });
  return worker;
}

function writeWorkerEnv(dataDir: string, server: DevServer, emulator: EmulatorProcess, gatewayUrl: string, oauth: { id: string; secret: string }, rateLimit: number): string {
  const caPath = join(dataDir, 'emulator-ca.pem');
  writeFileSync(caPath, emulator.details.caCertificatePem);
  const env = localWorkerEnv({
    temporal: { address: server.address, namespace: server.namespace, taskQueue: TASK_QUEUE },
    oauth: { clientId: oauth.id, secret: oauth.secret },
    emulator: emulator.details,
    gatewayUrl,
    mtlsUrl: emulator.details.mtlsUrl,
    caPath,
    auditPath: join(dataDir, 'audit.jsonl'),
    rateLimitPerMinute: rateLimit,
    // `info` so the supervisor sees "worker started"; the logs go to the data dir.
    logLevel: 'info',
  });
  const path = join(dataDir, 'worker.env');
  writeWorkerEnvFile(path, env, 'written by `npm run chaos`: the configuration of every worker it starts');
  // Fails here, not in N worker processes, when the file is wrong.
  loadWorkerConfig(env);
  return path;
}

async function seedClients(admin: EmulatorAdmin, seed: number, kinds: RotationKind[]): Promise<PlannedRotation[]> {
  const seedOne = async (kind: RotationKind, i: number): Promise<PlannedRotation> => {
    const clientId = `chaos-${seed}-${String(i).padStart(3, '0')}`;
    // Both certificates name the client: a rotation pins only a leaf bound to its client (IDENTITY_MISMATCH).
    const old = await retrying(`issue ${clientId}-old`, () => admin.issueCertificate({ commonName: clientId, days: 30 }));
    const next = await retrying(`issue ${clientId}-new`, () => admin.issueCertificate({ commonName: clientId, days: 90 }));
    const seeded = { certificateChain: old.certificatePem, pins: [pinFromInfo(describeCertificate(new X509Certificate(old.certificatePem)), 'primary')], mtlsRequired: kind !== 'refused' };
    await retrying(`create ${clientId}`, () => admin.createClient({ id: clientId, name: `chaos ${clientId}`, secret: randomBytes(12).toString('hex'), ...seeded }));
    return {
      clientId,
      workflowId: rotationWorkflowId(clientId),
      kind,
      seeded,
      newChain: next.certificatePem,
      newPin: pinFromInfo(describeCertificate(new X509Certificate(next.certificatePem)), 'primary'),
    };
  };
  // A few at a time: the emulator's CA generates a key per certificate, and the worker is bundling meanwhile.
  const planned: PlannedRotation[] = new Array(kinds.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < kinds.length) {
      const i = next++;
      planned[i] = await seedOne(kinds[i], i);
    }
  };
  await Promise.all(Array.from({ length: 3 }, lane));
  return planned;
}

function rotationInput(r: PlannedRotation, opts: ChaosOptions): RotationInput {
  const overlap = r.kind === 'immediate' || r.kind === 'refused' ? '0s' : r.kind === 'short-overlap' ? opts.shortOverlap : '1h';
  // Nothing presents the old certificate here, so a drain would wait out its quiet time from Apply: keep it short, so
  // short-overlap rotations go through the drain (one telemetry read under faults) and finalize within the run.
  return { clientId: r.clientId, certificatePem: r.newChain, serviceId: `svc-${r.clientId}`, overlap, drainQuiet: '1s', retry: CHAOS_RETRY };
}

/** Retries `fn` through a server restart or a worker kill (every 500 ms, up to 2 minutes). */
async function retrying<T>(what: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: still failing after ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`);
      await sleep(500);
    }
  }
}

/** Waits until the rotation is in its overlap window (status query), then a little more, then signals it. */
async function signalDuringOverlap(client: Client, r: PlannedRotation, delayMs: number, progress: (m: string) => void): Promise<void> {
  const handle = rotationHandle(client, r.clientId);
  await retrying(
    `${r.clientId} reaching overlap`,
    async () => {
      const s = await queryStatus(handle);
      if (s.phase !== 'overlap') throw new Error(`phase ${s.phase}`);
    },
    600_000,
  );
  await sleep(delayMs);
  const signal = r.kind === 'rollback' ? 'rollback' : 'finalizeNow';
  await retrying(`signal ${signal} to ${r.clientId}`, () => signalRotation(client, r.clientId, signal, signal === 'rollback' ? { reason: 'chaos run' } : undefined));
  progress(`sent ${signal} to ${r.clientId}`);
}

async function waitForTerminal(client: Client, planned: PlannedRotation[], deadlineMs: number, progress: (m: string) => void): Promise<ObservedRotation[]> {
  const deadline = Date.now() + deadlineMs;
  const observed = new Map<string, ObservedRotation>();
  let lastReport = 0;
  while (observed.size < planned.length && Date.now() < deadline) {
    for (const r of planned) {
      if (observed.has(r.clientId)) continue;
      try {
        const handle = client.workflow.getHandle(r.workflowId);
        const d = await handle.describe();
        if (d.status.name === 'RUNNING' || d.status.name === 'CONTINUED_AS_NEW') continue;
        // A failed rotation fails its workflow and carries its result in the failure details.
        const result =
          d.status.name === 'COMPLETED' || d.status.name === 'FAILED'
            ? await client.workflow
                .getHandle(r.workflowId, d.runId)
                .result()
                .then((x) => x as RotationResult, (e: unknown) => rotationResultOfFailure(e))
            : undefined;
        observed.set(r.clientId, { ...r, executionStatus: d.status.name, runId: d.runId, result });
      } catch {
        // The server may be restarting: ask again next round.
      }
    }
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      progress(`${observed.size}/${planned.length} rotations ended`);
    }
    if (observed.size < planned.length) await sleep(1_000);
  }
  return planned.map((r) => observed.get(r.clientId) ?? { ...r });
}

function countUp(o: {
  observed: ObservedRotation[];
  stats: EmulatorStats;
  deliveries: WebhookDelivery[];
  worker: WorkerSupervisor;
  lostAnswers: number;
  serverRestarts: number;
  webhookOutages: number;
  violations: Violation[];
  wallMs: number;
}): Counts {
  const byOutcome: Record<string, number> = {};
  for (const r of o.observed) {
    const key = r.result?.status ?? (r.executionStatus ? r.executionStatus.toLowerCase() : 'not_ended');
    byOutcome[key] = (byOutcome[key] ?? 0) + 1;
  }
  const served = (status: string): number =>
    Object.entries(o.stats.requests)
      .filter(([route]) => route.endsWith('/api/v2/oauth/clients/{id}'))
      .reduce((sum, [, byStatus]) => sum + (byStatus[status] ?? 0), 0);
  return {
    rotations: o.observed.length,
    byOutcome,
    workerKills: o.worker.kills,
    workerStarts: o.worker.starts,
    workerUnexpectedExits: o.worker.unexpectedExits,
    serverRestarts: o.serverRestarts,
    faultsInjected: o.stats.faultsInjected,
    served503: served('503'),
    served429: o.stats.rateLimited429,
    connectionResets: served('0'),
    lostAnswers: o.lostAnswers,
    webhookOutages: o.webhookOutages,
    webhookDeliveries: o.deliveries.length,
    webhookDuplicates: o.deliveries.filter((d) => d.duplicate).length,
    violations: o.violations.length,
    wallMs: o.wallMs,
  };
}

function table(counts: Counts, violations: Violation[], seed: number): string {
  const rows: Array<[string, string | number]> = [
    ['seed', seed],
    ['rotations', counts.rotations],
    ...Object.entries(counts.byOutcome)
      .sort()
      .map(([k, v]) => [`  ${k}`, v] as [string, number]),
    ['worker kills survived', `${counts.workerKills} (${counts.workerStarts} worker starts, ${counts.workerUnexpectedExits} unexpected exits)`],
    ['server restarts', counts.serverRestarts],
    ['faults injected', counts.faultsInjected],
    ['  503s served', counts.served503],
    ['  429s served', counts.served429],
    ['  connection resets', counts.connectionResets],
    ['  PATCH answers lost', counts.lostAnswers],
    ['webhook outages', counts.webhookOutages],
    ['webhook deliveries', `${counts.webhookDeliveries} (${counts.webhookDuplicates} answered as duplicates)`],
    ['violations', counts.violations],
    ['wall time', `${(counts.wallMs / 1000).toFixed(1)}s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  for (const v of violations) lines.push(`VIOLATION [${v.check}]${v.clientId ? ` ${v.clientId}` : ''}: ${v.message}`);
  return `${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  let opts: ChaosOptions;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  const { counts, violations, results } = await runChaos(opts);
  const resultsPath = join(repoRoot(), 'chaos', 'results', 'latest.json');
  mkdirSync(dirname(resultsPath), { recursive: true });
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  if (opts.json) process.stdout.write(`${JSON.stringify(results)}\n`);
  else process.stdout.write(table(counts, violations, opts.seed));
  process.stderr.write(`results written to ${resolve(resultsPath)}\n`);
  return violations.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

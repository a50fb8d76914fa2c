/**
 * `npm run soak`: months of operation compressed into minutes, on the real stack (a Temporal dev server, the emulator
 * and the worker each in their own process, as chaos/ runs them). One second stands for about a day: certificates
 * from the emulator CA live 200 s; a cert-manager stand-in renews each client's certificate file at half its
 * life; a Temporal Schedule per client (every few seconds, `file:` source) rotates the pins when the file changed;
 * the rotations overlap and drain for seconds. Each client has a field client making real mTLS handshakes; some
 * deploy the new certificate only after the overlap has ended. Platform 503s, resets and 429s and PKI outages are
 * sprinkled in. Invariants are polled all along and checked at the end, each printed with its count.
 *
 * By default the same plan runs twice side by side on the same stack, as twin clients: `finalizePolicy: drain` and
 * `finalizePolicy: time`. The time twins must show the lockouts the slow deployers suffer; the drain twins must
 * have none. Exit 1 on any violation (lockouts of the time twins are the expected comparison, not a violation).
 *
 *   npm run soak -- --quick                 the CI version (about 3-4 minutes on 2 cores, fixed seed)
 *   npm run soak -- --minutes 15 --clients 10 [--finalize-policy drain|time|both] [--seed S] [--json] [--keep]
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { AuditRecord } from '../src/activities/audit';
import { localWorkerEnv, writeWorkerEnvFile } from '../src/config/worker-env';
import { loadWorkerConfig } from '../src/config/worker-config';
import { EmulatorAdmin } from '../src/emulator/admin-client';
import type { ClientVersion, FieldClientView, WebhookDelivery } from '../src/emulator/types';
import { parseDuration } from '../src/pins/duration';
import { createRotationSchedule, rotationScheduleHandle } from '../src/schedules/client';
import { connectClient } from '../src/starter';
import { ensureTemporalCli } from '../src/temporal/cli-binary';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { freePort } from '../src/temporal/net';
import { rotationWorkflowId, scheduledRunWorkflowId, TASK_QUEUE, type FinalizePolicy, type RotationInput, type RotationResult, type ScheduledRotationResult } from '../src/contract';
import { startEmulatorProcess, WorkerSupervisor, type EmulatorProcess } from '../chaos/processes';
import { Prng } from '../chaos/prng';
import { checkAudit, checkExpiredPins, checkFinalizeAfterMove, checkHistories, checkLockouts, checkOutcomes, checkRss, checkWebhooks, type CheckResult, type Deployment, type ObservedRun, type PinSighting, type SoakClient } from './checks';

interface SoakOptions {
  quick: boolean;
  /** Clients per policy. */
  clients: number;
  /** How many of them deploy slowly (after the overlap). */
  slow: number;
  policies: FinalizePolicy[];
  windowMs: number;
  seed: number;
  json: boolean;
  keep: boolean;
  lifetimeS: number;
  overlap: string;
  drainQuiet: string;
  maxOverlap: string;
  scheduleEvery: string;
  renewWithin: string;
  fastDeployMs: number;
  slowDeployMs: number;
  handshakesPerSecond: number;
  pkiOutageMs: number;
  faultGapMs: [number, number];
  pollMs: number;
  historyBound: number;
  rssGrowth: number;
  rateLimit: number;
}

const USAGE = `usage: npm run soak -- [--quick] [--minutes M] [--clients N] [--slow K] [--finalize-policy drain|time|both]
                       [--seed S] [--json] [--keep]

  --quick              the CI run: 4 clients per policy (2 slow), a 145 s window, seed 1 (about 3-4 minutes)
  --minutes M          length of the rotation window (default 15)
  --clients N          clients per policy (default 10)
  --slow K             of which deploy slower than the overlap (default 40%)
  --lifetime S         certificate lifetime in seconds (default 200, renewed at half life); longer on a loaded machine
  --finalize-policy P  drain, time, or both side by side on one stack (default both)
  --seed S             seed of the plan (default random; printed)
  --json               print the results as JSON instead of the tables
  --keep               keep the data dir (logs, SQLite, audit file); kept anyway on a violation

environment: SOAK_WORKER_NODE_OPTIONS (V8 flags of the worker; default "--max-old-space-size=256", as the bench)
`;

function parseOptions(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      minutes: { type: 'string' },
      clients: { type: 'string' },
      slow: { type: 'string' },
      lifetime: { type: 'string' },
      'finalize-policy': { type: 'string' },
      seed: { type: 'string' },
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
  const num = (value: string | undefined, name: string, fallback: number, min: number, integer = true): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
    return n;
  };
  const quick = Boolean(values.quick);
  const clients = num(values.clients, 'clients', quick ? 4 : 10, 1);
  const policy = values['finalize-policy'] ?? 'both';
  const lifetimeS = num(values.lifetime, 'lifetime', 200, 120);
  if (!['drain', 'time', 'both'].includes(policy)) throw new Error('--finalize-policy must be drain, time or both');
  return {
    quick,
    clients,
    slow: Math.min(clients, num(values.slow, 'slow', quick ? 2 : Math.max(1, Math.round(clients * 0.4)), 0)),
    policies: policy === 'both' ? ['drain', 'time'] : [policy as FinalizePolicy],
    windowMs: Math.round(num(values.minutes, 'minutes', quick ? 145 / 60 : 15, 2, false) * 60_000),
    seed: num(values.seed, 'seed', quick ? 1 : randomBytes(4).readUInt32BE(0) % 1_000_000, 0),
    json: Boolean(values.json),
    keep: Boolean(values.keep),
    // About a day a second: 200 s certificates renewed at half life. Shorter lives make the invariants depend on how
    // fast a loaded machine schedules work, not on the product.
    lifetimeS,
    overlap: '6s',
    drainQuiet: '3s',
    maxOverlap: '10m',
    scheduleEvery: '10s',
    // The schedule's own safety window: the file is renewed at half life, the schedule would refuse below ~22%.
    renewWithin: `${Math.round(lifetimeS * 0.225)}s`,
    fastDeployMs: 1_000,
    // Slower than the 6 s overlap: these are the clients a time-based finalize locks out.
    slowDeployMs: 14_000,
    handshakesPerSecond: 1,
    pkiOutageMs: quick ? 6_000 : 12_000,
    faultGapMs: quick ? [12_000, 20_000] : [15_000, 40_000],
    pollMs: 2_000,
    historyBound: 1_000,
    rssGrowth: 0.25,
    rateLimit: 6_000,
  };
}

/** Retry tuning of scheduled runs and their rotations: short intervals, and a budget that outlasts every outage. */
const SOAK_RETRY: NonNullable<RotationInput['retry']> = { initialInterval: '200ms', maximumInterval: '2s', maximumAttempts: 120 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ClientPlan extends SoakClient {
  sourcePath: string;
  /** notAfter (ms) of the certificate in the source file. */
  sourceNotAfter: number;
}

interface Observation {
  polls: number;
  pinsSeen: Map<string, number>;
  expired: PinSighting[];
  deliveries: Map<number, WebhookDelivery>;
  lastSeq: number;
  gaps: number;
  rssKb: number[];
  fieldClients: FieldClientView[];
  /** Every certificate move of a field client seen while polling (the emulator keeps only the last few). */
  deployments: Map<string, Deployment>;
  renewals: number;
  faults: string[];
  pkiOutages: number;
  pollErrors: number;
}

function repoRoot(): string {
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

/** VmRSS of a process in kB (Linux /proc), undefined when unreadable. */
function vmRssKb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function retrying<T>(what: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
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

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export interface SoakReport {
  seed: number;
  options: Record<string, unknown>;
  byPolicy: Record<string, CheckResult[]>;
  shared: CheckResult[];
  extra: Record<string, Record<string, string | number>>;
  violations: string[];
  wallMs: number;
  windowMs: number;
  dataDir: string | null;
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const prng = new Prng(opts.seed);
  const progress = (m: string): void => {
    process.stderr.write(`[soak +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}\n`);
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'pinrotate-soak-'));
  progress(`seed ${opts.seed}; ${opts.clients} clients per policy (${opts.slow} slow) × ${opts.policies.join(' + ')}; window ${Math.round(opts.windowMs / 1000)} s; data in ${dataDir}`);

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

  const violations: string[] = [];
  let kept = opts.keep;
  try {
    // --- The stack: dev server, emulator and worker, each its own process.
    const cli = await ensureTemporalCli(progress);
    if (!cli) throw new Error('no Temporal CLI available (set TEMPORAL_CLI_PATH, put `temporal` on PATH, or install Go so it can be built)');
    const serverLog = join(dataDir, 'temporal.log');
    const adminToken = randomBytes(18).toString('base64url');
    const [server, emulator] = await Promise.all([
      startDevServer({ cliPath: cli.path, dbFilename: join(dataDir, 'temporal.sqlite'), port: await freePort(), uiPort: await freePort(), httpPort: await freePort(), headless: true, onLog: (line) => appendFileSync(serverLog, `${line}\n`) }),
      startEmulatorProcess({ dataDir, rateLimit: opts.rateLimit, adminToken }),
    ]);
    cleanups.push(() => server.stop());
    cleanups.push(() => emulator.stop());
    const admin = new EmulatorAdmin(emulator.details.url, emulator.details.adminToken);
    const envFile = writeWorkerEnv(dataDir, server, emulator, await seedWorkerClient(admin), opts.rateLimit);
    const worker = new WorkerSupervisor({ dataDir, envFile, readyTimeoutMs: 180_000, progress }, {
      onUnexpectedExit: ({ generation, code, signal }) => {
        violations.push(`[worker] worker #${generation} exited on its own (${signal ?? code})`);
        progress(`worker #${generation} exited on its own (${signal ?? code}); restarting it`);
      },
    });
    cleanups.push(() => worker.stop());
    // The README's production heap setting, as the bench runs its workers: a leak shows as growth, not as lazy GC.
    process.env.NODE_OPTIONS = process.env.SOAK_WORKER_NODE_OPTIONS ?? '--max-old-space-size=256';
    progress(`dev server on ${server.address}, emulator on ${emulator.details.url}; starting the worker (NODE_OPTIONS ${process.env.NODE_OPTIONS || 'none'})`);
    await worker.start();
    progress(`worker up (pid ${worker.pid})`);
    const client = await connectClient({ address: server.address, namespace: server.namespace }, { PATH: process.env.PATH });
    cleanups.push(() => client.connection.close());

    // --- Clients: twins per policy, same deploy delays and first expiries, so the policies meet the same situations.
    const plans = await seedClients(admin, client, opts, prng, dataDir, progress);
    cleanups.push(async () => {
      for (const p of plans) await rotationScheduleHandle(client, p.clientId).delete().catch(() => undefined);
    });

    const obs: Observation = { polls: 0, pinsSeen: new Map(), expired: [], deliveries: new Map(), lastSeq: 0, gaps: 0, rssKb: [], fieldClients: [], deployments: new Map(), renewals: 0, faults: [], pkiOutages: 0, pollErrors: 0 };
    const windowStart = Date.now();
    const windowEnd = windowStart + opts.windowMs;
    let stopRenewing = false;
    let stopPolling = false;

    // The cert-manager stand-in: renews a client's certificate file at half its life.
    const renewer = (async () => {
      while (!stopRenewing) {
        for (const p of plans) {
          if (stopRenewing) break;
          if (p.sourceNotAfter - Date.now() > (opts.lifetimeS * 1000) / 2) continue;
          const issued = await retrying(`renew ${p.clientId}`, () => admin.issueCertificate({ commonName: p.clientId, days: opts.lifetimeS / 86_400 }));
          writeAtomically(p.sourcePath, issued.certificatePem);
          p.sourceNotAfter = Date.parse(new X509Certificate(issued.certificatePem).validTo);
          obs.renewals += 1;
        }
        await sleep(500);
      }
    })();

    const poller = (async () => {
      while (!stopPolling) {
        await poll(admin, plans, worker.pid, obs, progress).catch(() => {
          obs.pollErrors += 1;
        });
        await sleep(opts.pollMs);
      }
    })();

    // Faults, sprinkled over the window (not in its last 30 s, so the wind-down meets a healthy platform).
    const chaos = (async () => {
      const kinds = ['platform-503', 'pki-outage', 'platform-429', 'platform-reset'] as const;
      let i = 0;
      for (;;) {
        const gap = prng.int(opts.faultGapMs[0], opts.faultGapMs[1]);
        if (Date.now() + gap > windowEnd - 30_000) break;
        await sleep(gap);
        const kind = kinds[i % kinds.length];
        i += 1;
        if (kind === 'platform-503') {
          for (const method of ['GET', 'PATCH']) await admin.addFault({ method, pathPrefix: '/api/v2/oauth/clients', status: 503, times: 3 });
        } else if (kind === 'platform-429') {
          await admin.addFault({ method: '*', pathPrefix: '/api/v2/oauth/clients', status: 429, times: 4, retryAfter: 1 });
        } else if (kind === 'platform-reset') {
          await admin.addFault({ method: '*', pathPrefix: '/api/v2/oauth/clients', status: 0, times: 2 });
        } else {
          await admin.failWebhooks({ status: 503, times: 1_000_000 });
          obs.pkiOutages += 1;
          await sleep(opts.pkiOutageMs);
          await retrying('bring the PKI receiver back', () => admin.failWebhooks({ status: 503, times: 0 }));
        }
        obs.faults.push(kind);
        progress(`${kind}${kind === 'pki-outage' ? ` for ${opts.pkiOutageMs / 1000}s (over)` : ' queued'}`);
      }
    })();

    let lastReport = 0;
    while (Date.now() < windowEnd) {
      await sleep(1_000);
      if (Date.now() - lastReport > 20_000) {
        lastReport = Date.now();
        const rejected = obs.fieldClients.reduce((n, f) => n + f.rejected, 0);
        progress(`${Math.round((Date.now() - windowStart) / 1000)}s: ${obs.renewals} renewals at the source, ${obs.deliveries.size} webhook deliveries seen, ${rejected} handshakes rejected so far, worker RSS ${((obs.rssKb.at(-1) ?? 0) / 1024).toFixed(0)} MB`);
      }
    }

    // --- Wind-down: no more renewals or faults, schedules paused, every rotation allowed to end.
    stopRenewing = true;
    await Promise.all([renewer, chaos]);
    await admin.clearFaults();
    await admin.failWebhooks({ status: 503, times: 0 });
    for (const p of plans) await retrying(`pause ${p.clientId}`, () => rotationScheduleHandle(client, p.clientId).pause('soak wind-down'));
    progress('window over: schedules paused, waiting for running rotations to end');
    await sleep(3_000);
    const windDownDeadline = Date.now() + 180_000;
    for (;;) {
      const running = await runningRotations(client, plans);
      if (running.length === 0) break;
      if (Date.now() > windDownDeadline) {
        violations.push(`[wind-down] still running 180 s after the window: ${running.join(', ')}`);
        break;
      }
      await sleep(1_000);
    }
    stopPolling = true;
    await poller;
    await poll(admin, plans, worker.pid, obs, progress);
    const rotationEnd = Date.now();

    // --- Gather every run, its history length and result; the audit file.
    progress('gathering runs, results and the audit file');
    const runs = await gatherRuns(client, plans);
    const auditPath = join(dataDir, 'audit.jsonl');
    const { records, torn } = readAudit(existsSync(auditPath) ? readFileSync(auditPath, 'utf8') : '');
    const deliveries = [...obs.deliveries.values()];
    const versions = new Map<string, ClientVersion[]>();
    for (const p of plans) versions.set(p.clientId, (await admin.getClient(p.clientId)).versions);
    // Renewals the window holds for every client: the last first renewal, then one every half life, each with two
    // schedule intervals to be picked up before the window closes.
    const lastFirstMs = 5_000 + (opts.quick ? 15_000 : Math.min((opts.lifetimeS * 1000) / 2, opts.windowMs - 70_000));
    const rotationsPerClient = Math.max(1, Math.floor((opts.windowMs - 2 * parseDuration(opts.scheduleEvery) - lastFirstMs) / ((opts.lifetimeS * 1000) / 2)) + 1);

    const byPolicy: Record<string, CheckResult[]> = {};
    const extra: SoakReport['extra'] = {};
    for (const policy of opts.policies) {
      const mine = plans.filter((p) => p.policy === policy);
      const lockouts = checkLockouts(mine, obs.fieldClients);
      const outcomes = checkOutcomes(mine, runs, rotationsPerClient);
      const afterMove = checkFinalizeAfterMove(mine, runs, deliveries, [...obs.deployments.values()], versions);
      const results = [
        lockouts,
        checkExpiredPins(
          obs.polls,
          mine.reduce((n, m) => n + (obs.pinsSeen.get(m.clientId) ?? 0), 0),
          obs.expired.filter((e) => mine.some((m) => m.clientId === e.clientId)),
        ),
        outcomes,
        checkWebhooks(mine, runs, deliveries, obs.gaps),
        checkAudit(mine, runs, records, torn),
        checkHistories(mine, runs, opts.historyBound),
        afterMove,
      ];
      byPolicy[policy] = results;
      const rates = runs.filter((r) => r.type === 'pinRotation' && mine.some((m) => m.clientId === r.clientId)).map((r) => r.rotation?.pinMatchRate);
      const measured = rates.filter((x): x is number => typeof x === 'number');
      extra[policy] = {
        'pin match rate (mean, min over rotations)': measured.length ? `${(measured.reduce((a, b) => a + b, 0) / measured.length).toFixed(4)}, ${Math.min(...measured).toFixed(4)} (${rates.length - measured.length} null)` : `none measured (${rates.length} null)`,
        'slow deployers rejected handshakes': lockouts.rejectedSlow,
        'fast deployers rejected handshakes': lockouts.rejectedFast,
        'rotation time (mean, max; start to end)': rotationTimes(runs, mine),
      };
      for (const r of results) {
        // The time twins are the comparison: their lockouts are expected, the rest must hold for them too.
        if (policy === 'time' && (r === lockouts || r === afterMove)) continue;
        for (const v of r.violations) violations.push(`[${policy}] ${r.name}: ${v}`);
      }
      if (policy === 'time' && opts.slow > 0 && lockouts.rejectedSlow === 0) violations.push('[time] the slow deployers suffered no lockout under finalizePolicy time: the soak did not exercise what it compares');
    }
    const rss = checkRss(obs.rssKb, opts.rssGrowth);
    const shared = [rss];
    for (const v of rss.violations) violations.push(`[shared] ${rss.name}: ${v}`);
    if (obs.pollErrors > 0) progress(`${obs.pollErrors} polls failed (retried next round)`);

    if (violations.length > 0) kept = true;
    extra.shared = {
      'renewals at the source': obs.renewals,
      'faults (platform 503s, 429s, resets; PKI outages)': `${obs.faults.filter((f) => f !== 'pki-outage').length} bursts, ${obs.pkiOutages} PKI outages`,
      'worker starts (unexpected exits)': `${worker.starts} (${worker.unexpectedExits})`,
      polls: obs.polls,
      'window, wind-down': `${Math.round(opts.windowMs / 1000)} s, ${Math.round((rotationEnd - windowEnd) / 1000)} s`,
    };
    return {
      seed: opts.seed,
      options: { ...opts, policies: opts.policies },
      byPolicy,
      shared,
      extra,
      violations,
      wallMs: Date.now() - started,
      windowMs: opts.windowMs,
      dataDir: kept ? dataDir : null,
    };
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

function writeWorkerEnv(dataDir: string, server: DevServer, emulator: EmulatorProcess, oauth: { id: string; secret: string }, rateLimit: number): string {
  const caPath = join(dataDir, 'emulator-ca.pem');
  writeFileSync(caPath, emulator.details.caCertificatePem);
  const env = localWorkerEnv({
    temporal: { address: server.address, namespace: server.namespace, taskQueue: TASK_QUEUE },
    oauth: { clientId: oauth.id, secret: oauth.secret },
    emulator: emulator.details,
    mtlsUrl: emulator.details.mtlsUrl,
    caPath,
    auditPath: join(dataDir, 'audit.jsonl'),
    rateLimitPerMinute: rateLimit,
    logLevel: 'info',
    // Certificates live two minutes here: the worker's floor on remaining validity scales with them.
    // The schedules' `file:` sources live in the data dir: the only directory the worker may read them from.
    extra: { PIN_MIN_REMAINING: '30s', CERT_SOURCE_DIRS: dataDir },
  });
  const path = join(dataDir, 'worker.env');
  writeWorkerEnvFile(path, env, 'written by `npm run soak`');
  loadWorkerConfig(env);
  return path;
}

async function seedClients(admin: EmulatorAdmin, client: Client, opts: SoakOptions, prng: Prng, dataDir: string, progress: (m: string) => void): Promise<ClientPlan[]> {
  const lifetimeMs = opts.lifetimeS * 1000;
  // First renewals spread over the first part of the window; twins share theirs.
  const spreadMs = opts.quick ? 15_000 : Math.max(0, Math.min(lifetimeMs / 2, opts.windowMs - 70_000));
  const slowIndexes = new Set(prng.shuffle(Array.from({ length: opts.clients }, (_, i) => i)).slice(0, opts.slow));
  const firstRenewal = Array.from({ length: opts.clients }, (_, i) => 5_000 + Math.round((spreadMs * i) / opts.clients));
  const plans: ClientPlan[] = [];
  for (const policy of opts.policies) {
    for (let i = 0; i < opts.clients; i += 1) {
      const clientId = `soak-${policy}-${String(i + 1).padStart(2, '0')}`;
      const slow = slowIndexes.has(i);
      const days = (lifetimeMs / 2 + firstRenewal[i]) / 86_400_000;
      const issued = await retrying(`issue ${clientId}`, () => admin.issueCertificate({ commonName: clientId, days }));
      await admin.createClient({ id: clientId, name: `soak ${clientId}`, secret: randomBytes(12).toString('hex'), mtlsRequired: true, certificateChain: issued.certificatePem });
      const sourcePath = join(dataDir, `${clientId}.pem`);
      writeAtomically(sourcePath, issued.certificatePem);
      const deployDelayMs = slow ? opts.slowDeployMs : opts.fastDeployMs;
      await admin.startFieldClient({ clientId, handshakesPerSecond: opts.handshakesPerSecond, deployDelayMs });
      await createRotationSchedule(client, {
        clientId,
        certSource: `file:${sourcePath}`,
        spec: { every: opts.scheduleEvery },
        overlap: opts.overlap,
        renewWithin: opts.renewWithin,
        finalizePolicy: policy,
        drainQuiet: opts.drainQuiet,
        maxOverlap: opts.maxOverlap,
        retry: SOAK_RETRY,
        note: 'npm run soak',
      });
      plans.push({ clientId, policy, slow, deployDelayMs, sourcePath, sourceNotAfter: Date.parse(new X509Certificate(issued.certificatePem).validTo) });
    }
  }
  progress(`seeded ${plans.length} clients with field clients and schedules (every ${opts.scheduleEvery}); slow deployers: ${[...slowIndexes].map((i) => i + 1).sort((a, b) => a - b).join(', ') || 'none'}`);
  return plans;
}

/** One round of the poll loop: field clients, the pins on the platform, new webhook deliveries, the worker's RSS. */
async function poll(admin: EmulatorAdmin, plans: readonly ClientPlan[], workerPid: number | undefined, obs: Observation, progress: (m: string) => void): Promise<void> {
  const rss = vmRssKb(workerPid);
  if (rss !== undefined) obs.rssKb.push(rss);
  const [fieldClients, { deliveries }] = await Promise.all([admin.fieldClients(), admin.webhooks()]);
  for (const fc of fieldClients) {
    const plan = plans.find((p) => p.clientId === fc.clientId);
    const before = obs.fieldClients.find((f) => f.clientId === fc.clientId)?.rejected ?? 0;
    // Checked all along: a lockout is reported when it happens, with the policy it happened under.
    if (plan && fc.rejected > before) progress(`[${plan.policy}] ${fc.clientId} (${plan.slow ? 'slow' : 'fast'} deployer): ${fc.rejected - before} handshakes rejected${plan.policy === 'time' ? ' (the comparison: expected under time)' : ': LOCKOUT'}`);
    for (const d of fc.deployments) obs.deployments.set(`${fc.clientId} ${d.at} ${d.sha256Spki}`, { clientId: fc.clientId, at: d.at, sha256Spki: d.sha256Spki });
  }
  obs.fieldClients = fieldClients;
  const fresh = deliveries.filter((d) => d.seq > obs.lastSeq).sort((a, b) => a.seq - b.seq);
  if (fresh.length > 0 && obs.lastSeq > 0 && fresh[0].seq > obs.lastSeq + 1) obs.gaps += 1;
  for (const d of deliveries) obs.deliveries.set(d.seq, d);
  obs.lastSeq = Math.max(obs.lastSeq, ...deliveries.map((d) => d.seq));
  const now = Date.now();
  const states = await Promise.all(plans.map((p) => admin.getClient(p.clientId)));
  for (const s of states) {
    for (const pin of s.pins) {
      obs.pinsSeen.set(s.id, (obs.pinsSeen.get(s.id) ?? 0) + 1);
      if (pin.notAfter && Date.parse(pin.notAfter) <= now && !obs.expired.some((e) => e.clientId === s.id)) progress(`${s.id}: pinned to an expired certificate (${pin.role}, expired ${pin.notAfter})`);
      if (pin.notAfter && Date.parse(pin.notAfter) <= now) obs.expired.push({ clientId: s.id, at: new Date(now).toISOString(), role: pin.role, notAfter: pin.notAfter });
    }
  }
  obs.polls += 1;
}

async function runningRotations(client: Client, plans: readonly ClientPlan[]): Promise<string[]> {
  const running: string[] = [];
  for (const p of plans) {
    try {
      const d = await client.workflow.getHandle(rotationWorkflowId(p.clientId)).describe();
      if (d.status.name === 'RUNNING') running.push(p.clientId);
    } catch {
      // never rotated yet
    }
  }
  return running;
}

async function gatherRuns(client: Client, plans: readonly ClientPlan[]): Promise<ObservedRun[]> {
  const byWorkflow = new Map<string, string>();
  for (const p of plans) byWorkflow.set(rotationWorkflowId(p.clientId), p.clientId);
  const listed: ObservedRun[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'pinRotation' OR WorkflowType = 'scheduledRotation'` })) {
    const type = wf.type as ObservedRun['type'];
    // A schedule's runs are `scheduled-rotation-{clientId}-{scheduled time}`.
    const clientId = byWorkflow.get(wf.workflowId) ?? plans.find((p) => wf.workflowId.startsWith(`${scheduledRunWorkflowId(p.clientId)}-`))?.clientId ?? '';
    const durationMs = wf.closeTime ? wf.closeTime.getTime() - wf.startTime.getTime() : undefined;
    listed.push({ type, workflowId: wf.workflowId, runId: wf.runId, clientId, status: wf.status.name, historyLength: wf.historyLength, durationMs });
  }
  // Results, a few at a time (a scheduled run's result names its client too).
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < listed.length) {
      const r = listed[next++];
      if (r.status !== 'COMPLETED') continue;
      try {
        const result = await client.workflow.getHandle(r.workflowId, r.runId).result();
        if (r.type === 'pinRotation') r.rotation = result as RotationResult;
        else {
          r.scheduled = result as ScheduledRotationResult;
          r.clientId = r.scheduled.clientId;
        }
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return listed;
}

function readAudit(text: string): { records: AuditRecord[]; torn: number } {
  const records: AuditRecord[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as AuditRecord);
    } catch {
      torn += 1;
    }
  }
  return { records, torn };
}

function rotationTimes(runs: readonly ObservedRun[], mine: readonly SoakClient[]): string {
  const slow = new Set(mine.filter((m) => m.slow).map((m) => m.clientId));
  const ids = new Set(mine.map((m) => m.clientId));
  const fmt = (list: number[]): string => (list.length ? `${(list.reduce((a, b) => a + b, 0) / list.length / 1000).toFixed(1)}s, ${(Math.max(...list) / 1000).toFixed(1)}s` : '-');
  const times = (pick: (id: string) => boolean): number[] =>
    runs.filter((r) => r.type === 'pinRotation' && ids.has(r.clientId) && pick(r.clientId) && r.durationMs !== undefined).map((r) => r.durationMs as number);
  return `slow ${fmt(times((id) => slow.has(id)))}; fast ${fmt(times((id) => !slow.has(id)))}`;
}

function table(report: SoakReport): string {
  const policies = Object.keys(report.byPolicy);
  const names = report.byPolicy[policies[0]]?.map((r) => r.name) ?? [];
  const lines: string[] = [];
  const cell = (r: CheckResult | undefined, policy: string): string => {
    if (!r) return '-';
    const expected = policy === 'time' && (r.name.startsWith('no field-client') || r.name.startsWith('the fallback pin'));
    const verdict = r.violations.length === 0 ? 'ok' : expected ? 'NO (the comparison: expected under time)' : `VIOLATED ×${r.violations.length}`;
    return `${verdict}: ${r.figure} [${r.checked} ${r.unit}]`;
  };
  lines.push(`invariant${' '.repeat(2)}| ${policies.map((p) => `finalizePolicy ${p}`).join(' | ')}`);
  for (const name of names) {
    lines.push(`- ${name}`);
    for (const p of policies) lines.push(`    ${p.padEnd(6)} ${cell(report.byPolicy[p].find((r) => r.name === name), p)}`);
  }
  for (const key of Object.keys(report.extra[policies[0]] ?? {})) {
    lines.push(`- ${key}`);
    for (const p of policies) lines.push(`    ${p.padEnd(6)} ${report.extra[p][key]}`);
  }
  for (const r of report.shared) lines.push(`- ${r.name}\n    ${r.violations.length === 0 ? 'ok' : 'VIOLATED'}: ${r.figure} [${r.checked} ${r.unit}]`);
  for (const [k, v] of Object.entries(report.extra.shared ?? {})) lines.push(`- ${k}: ${v}`);
  lines.push(`- seed ${report.seed}, wall time ${(report.wallMs / 1000).toFixed(1)} s`);
  lines.push(`violations: ${report.violations.length}`);
  for (const v of report.violations.slice(0, 40)) lines.push(`VIOLATION ${v}`);
  if (report.violations.length > 40) lines.push(`… and ${report.violations.length - 40} more (see the results file)`);
  return `${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  let opts: SoakOptions;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  const report = await runSoak(opts);
  const resultsPath = join(repoRoot(), 'soak', 'results', 'latest.json');
  mkdirSync(dirname(resultsPath), { recursive: true });
  writeFileSync(resultsPath, `${JSON.stringify({ ...report, finishedAt: new Date().toISOString() }, null, 2)}\n`);
  if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(table(report));
  process.stderr.write(`results written to ${resolve(resultsPath)}\n`);
  return report.violations.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * The real components a bench scenario runs against: one Temporal dev server and one workflow bundle per bench run,
 * and per scenario an emulator (its own rate limit and CA), seeded clients and a worker in a child process (so the
 * RSS and CPU measured are the worker's own).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client } from '@temporalio/client';
import { EmulatorAdmin, startEmulator, type EmulatorHandle } from '../src/emulator';
import { localWorkerEnv } from '../src/config/worker-env';
import { describeCertificate, pinFromInfo } from '../src/pins/digest';
import { connectClient } from '../src/starter';
import { ensureTemporalCli } from '../src/temporal/cli-binary';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { freePort } from '../src/temporal/net';
import type { WorkerTuning } from '../src/worker';
import { bundleWorkflows } from '../src/workflow-bundle';

export type Log = (message: string) => void;

export interface Temporal {
  server: DevServer;
  client: Client;
  bundlePath: string;
  dir: string;
  close(): Promise<void>;
}

/**
 * `serverArgs` go to `temporal server start-dev` after the usual ones (e.g. dynamic config); startDevServer takes
 * none, so a small wrapper script adds them. Task queues have one partition, as `pinrotate dev` runs them, unless
 * `taskQueuePartitions` says otherwise.
 */
export async function startTemporal(log: Log, serverArgs: string[] = [], opts: { taskQueuePartitions?: number } = {}): Promise<Temporal> {
  const cli = await ensureTemporalCli(log);
  if (!cli) throw new Error('no Temporal CLI found (set TEMPORAL_CLI_PATH)');
  const dir = mkdtempSync(join(tmpdir(), 'pinrotate-bench-'));
  let cliPath = cli.path;
  if (serverArgs.length > 0) {
    cliPath = join(dir, 'temporal-with-args.sh');
    const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
    writeFileSync(cliPath, `#!/bin/sh\nexec ${quote(cli.path)} "$@" ${serverArgs.map(quote).join(' ')}\n`, { mode: 0o755 });
  }
  const partitions = opts.taskQueuePartitions ?? 1;
  log(`temporal dev server (in-memory, headless, ${partitions} partition${partitions === 1 ? '' : 's'} per task queue) from ${cli.path}${serverArgs.length ? ` with ${serverArgs.join(' ')}` : ''}`);
  const server = await startDevServer({ cliPath, headless: true, taskQueuePartitions: partitions });
  const client = await connectClient({ address: server.address, namespace: server.namespace }, { PATH: process.env.PATH });
  const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never;
  const bundle = await bundleWorkflows(quiet);
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  return {
    server,
    client,
    bundlePath,
    dir,
    async close() {
      await client.connection.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Platform {
  emulator: EmulatorHandle;
  admin: EmulatorAdmin;
  workerClientId: string;
  workerSecret: string;
  caPath: string;
  /** The certificate every seeded client is pinned to. */
  seedPem: string;
  /** A different certificate from the same CA: the `file:` source of the rotations. */
  nextPath: string;
  nextPem: string;
  close(): Promise<void>;
}

/** An emulator with the worker's OAuth client, the CA on disk, and two certificates to rotate between. */
export async function startPlatform(dir: string, opts: { rateLimitPerMinute: number; tokenTtlSeconds?: number }): Promise<Platform> {
  const emulator = await startEmulator({ rateLimitPerMinute: opts.rateLimitPerMinute, tokenTtlSeconds: opts.tokenTtlSeconds });
  const admin = new EmulatorAdmin(emulator.url, emulator.adminToken);
  const workerClientId = `bench-worker-${randomBytes(3).toString('hex')}`;
  const workerSecret = randomBytes(18).toString('base64url');
  await admin.createClient({ id: workerClientId, name: 'bench worker', secret: workerSecret, mtlsRequired: false });
  const caPath = join(dir, `ca-${emulator.port}.pem`);
  writeFileSync(caPath, emulator.caCertificatePem);
  const seed = await admin.issueCertificate({ commonName: 'bench-seed', days: 90 });
  const next = await admin.issueCertificate({ commonName: 'bench-next', days: 90 });
  const nextPath = join(dir, `next-${emulator.port}.pem`);
  writeFileSync(nextPath, next.certificatePem);
  return {
    emulator,
    admin,
    workerClientId,
    workerSecret,
    caPath,
    seedPem: seed.certificatePem,
    nextPath,
    nextPem: next.certificatePem,
    close: () => emulator.close(),
  };
}

/** Creates `ids` as active, mTLS-required clients pinned to the seed certificate (20 requests in flight). */
export async function seedClients(p: Platform, ids: readonly string[]): Promise<void> {
  const pin = pinFromInfo(describeCertificate(new X509Certificate(p.seedPem)), 'primary');
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++];
      // Every bench client rotates to the one pre-issued `bench-next` certificate: its platform name is that
      // certificate's CN, so the leaf is bound to the client (IDENTITY_MISMATCH otherwise).
      await p.admin.createClient({ id, name: 'bench-next', secret: randomBytes(12).toString('hex'), mtlsRequired: true, certificateChain: p.seedPem, pins: [pin] });
    }
  };
  await Promise.all(Array.from({ length: 20 }, lane));
}

/** The environment `loadWorkerConfig` reads, for a worker against `p` on `taskQueue`. */
export function workerEnv(temporal: Temporal, p: Platform, opts: { taskQueue: string; rateLimitPerMinute: number; logLevel: string; auditPath: string; metricsPort?: number }): Record<string, string> {
  return localWorkerEnv({
    temporal: { address: temporal.server.address, namespace: temporal.server.namespace, taskQueue: opts.taskQueue },
    oauth: { clientId: p.workerClientId, secret: p.workerSecret },
    emulator: p.emulator,
    caPath: p.caPath,
    auditPath: opts.auditPath,
    // Always written, 0 included: the bench compares paced and unpaced runs.
    // CERT_SOURCE_DIRS: the worker reads `file:` sources only below it (the next certificate lives there).
    extra: { PLATFORM_RATE_LIMIT_PER_MINUTE: String(opts.rateLimitPerMinute), CERT_SOURCE_DIRS: dirname(p.nextPath) },
    logLevel: opts.logLevel,
    metricsPort: opts.metricsPort,
  });
}

export interface WorkerUsage {
  /** Highest RSS sampled (every 100 ms) since the last reset, bytes. */
  peakRss: number;
  /** Highest V8 heapUsed sampled (the main thread's; workflow threads have their own heaps, inside RSS). */
  peakHeapUsed: number;
  rss: number;
  heapUsed: number;
  /** After a full GC of the main thread at the end of the run. */
  rssAfterGc: number;
  heapAfterGc: number;
  /** CPU time since the last reset, ms. */
  cpuUserMs: number;
  cpuSystemMs: number;
}

export interface WorkerProcess {
  child: ChildProcess;
  metricsUrl: string;
  /** Starts a measurement window: peak RSS and CPU count from here. */
  reset(): Promise<void>;
  usage(): Promise<WorkerUsage>;
  stop(): Promise<void>;
}

type ChildMessage = { type: 'ready' } | { type: 'reset' } | ({ type: 'usage' } & WorkerUsage) | { type: 'error'; message: string };

/**
 * V8 flags for the bench's worker processes: BENCH_WORKER_NODE_OPTIONS when set (empty: Node's defaults), else the
 * heap limit the README recommends for production workers, under which memory stays flat in fleet size.
 */
export const DEFAULT_WORKER_NODE_OPTIONS = '--max-old-space-size=256';
export function workerNodeOptions(): string {
  return process.env.BENCH_WORKER_NODE_OPTIONS ?? DEFAULT_WORKER_NODE_OPTIONS;
}

/** Forks bench/worker-process.js: createWorker with the config above, the shared bundle and optional tuning. */
export async function startWorkerProcess(
  temporal: Temporal,
  env: Record<string, string>,
  opts: { tuning?: WorkerTuning; cpuProfDir?: string; steadyProfileDir?: string; log: Log },
): Promise<WorkerProcess> {
  const metricsPort = Number(env.METRICS_PORT) || (await freePort());
  const child = fork(require.resolve('./worker-process'), [], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, METRICS_PORT: String(metricsPort), BENCH_BUNDLE_PATH: temporal.bundlePath, BENCH_WORKER_TUNING: JSON.stringify(opts.tuning ?? {}), ...(opts.steadyProfileDir ? { BENCH_STEADY_PROFILE_DIR: opts.steadyProfileDir } : {}) },
    execArgv: ['--expose-gc', ...workerNodeOptions().split(/\s+/).filter(Boolean), ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [])],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (c: Buffer) => {
    stderr.push(c.toString());
    if (stderr.length > 40) stderr.shift();
  });
  const waiting: Array<{ type: string; resolve: (m: ChildMessage) => void }> = [];
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      for (const w of waiting.splice(0)) w.resolve({ type: 'error', message: `worker exited with ${code}: ${stderr.join('').slice(-2000)}` });
      resolve(code);
    }),
  );
  child.on('message', (m: ChildMessage) => {
    const i = waiting.findIndex((w) => w.type === m.type || m.type === 'error');
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
  });
  const ask = async <T extends ChildMessage['type']>(type: T, send?: object): Promise<Extract<ChildMessage, { type: T }>> => {
    if (exited) throw new Error(`worker process has exited: ${stderr.join('').slice(-2000)}`);
    const answer = new Promise<ChildMessage>((resolve) => waiting.push({ type, resolve }));
    if (send) child.send(send);
    const m = await answer;
    if (m.type === 'error') throw new Error(m.message);
    return m as Extract<ChildMessage, { type: T }>;
  };
  await ask('ready');
  return {
    child,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    async reset() {
      await ask('reset', { type: 'reset' });
    },
    async usage() {
      const { type: _type, ...usage } = await ask('usage', { type: 'usage' });
      return usage;
    },
    async stop() {
      if (exited) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

export function clientIds(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
}

export const uniqueSuffix = (): string => randomBytes(3).toString('hex');

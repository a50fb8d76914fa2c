import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { formatEnvFile, parseEnvFile } from '../config/env-file';
import { ensurePrivateDir, writePrivateFile } from '../config/private-files';
import { loadWorkerConfig, type WorkerConfig } from '../config/worker-config';
import { localWorkerEnv } from '../config/worker-env';
import { EmulatorAdmin } from '../emulator/admin-client';
import { startEmulator, type EmulatorHandle } from '../emulator';
import { ensureTemporalCli } from '../temporal/cli-binary';
import { ensureSearchAttributes, probeAddress, TemporalUnreachableError } from '../temporal/connection';
import { startDevServer, type DevServer } from '../temporal/dev-server';
import { createWorker } from '../worker';
import { TASK_QUEUE } from '../contract';

/**
 * Everything a local run needs, wired together: Temporal (the real dev server, or an existing frontend such as
 * `pinrotate cluster start`), the platform emulator with the worker's OAuth client seeded, a worker.env describing
 * them, and (optionally) a worker in this process.
 *
 * With `persist`, the data directory keeps what a restart needs to resume running rotations: Temporal's SQLite,
 * the emulator's state (`emulator/`: CA, clients and their versions, admin token, PKI secrets, ports) and the
 * worker's OAuth secret (worker.env). All of it owner-only.
 */

export const WORKER_OAUTH_CLIENT_ID = 'pinrotate-worker';

export interface StackOptions {
  dataDir: string;
  /** Use this Temporal frontend (HOST:PORT) instead of starting a dev server. */
  temporalAddress?: string;
  namespace?: string;
  temporalPort?: number;
  uiPort?: number;
  /** The dev server's HTTP API (grpc-gateway); random when unset. */
  httpPort?: number;
  /** Unset: the port saved in the data directory, else `defaultEmulatorPorts`, else random. */
  emulatorPort?: number;
  mtlsPort?: number;
  defaultEmulatorPorts?: { port: number; mtlsPort: number };
  metricsPort?: number;
  /** Keep Temporal and emulator state in `dataDir` (dev) rather than in memory (demo). */
  persist: boolean;
  headless?: boolean;
  withWorker: boolean;
  auditPath?: string;
  progress: (message: string) => void;
}

/** Where Temporal is: the dev server this stack started, or the frontend it was given. */
export interface TemporalEndpoint {
  address: string;
  namespace: string;
  uiUrl?: string;
  httpUrl?: string;
}

export interface Stack {
  temporal: TemporalEndpoint;
  /** Set when this stack started the dev server. */
  devServer?: DevServer;
  emulator: EmulatorHandle;
  admin: EmulatorAdmin;
  workerEnv: Record<string, string>;
  workerEnvPath: string;
  /** Holds the emulator's control-plane token (mode 0600), so it need not be printed where logs keep it. */
  adminTokenPath: string;
  config: WorkerConfig;
  worker?: Worker;
  workerRun?: Promise<void>;
  stop(): Promise<void>;
}

/** The worker secret a previous run wrote, when worker.env is there and readable. */
function savedWorkerSecret(workerEnvPath: string): string | undefined {
  try {
    return parseEnvFile(readFileSync(workerEnvPath, 'utf8')).GENESYS_CLIENT_SECRET || undefined;
  } catch {
    return undefined;
  }
}

async function connectExisting(address: string, namespace: string, progress: (m: string) => void): Promise<TemporalEndpoint> {
  const unreachable = await probeAddress(address, 3000);
  if (unreachable) throw new TemporalUnreachableError(address, unreachable);
  const connection = await Connection.connect({ address, connectTimeout: 5000 });
  try {
    const added = await ensureSearchAttributes(connection, namespace);
    progress(added.length > 0 ? `registered search attributes ${added.join(', ')} on ${namespace}` : `search attributes already registered on ${namespace}`);
  } finally {
    await connection.close();
  }
  return { address, namespace };
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const dataDir = resolve(opts.dataDir);
  ensurePrivateDir(dataDir);
  const certSourceDir = join(dataDir, 'cert-sources');
  const probeKeyDir = join(dataDir, 'probe-keys');
  ensurePrivateDir(certSourceDir);
  ensurePrivateDir(probeKeyDir);

  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) {
      await fn().catch(() => undefined);
    }
  };
  try {
    let temporal: TemporalEndpoint;
    let devServer: DevServer | undefined;
    if (opts.temporalAddress) {
      opts.progress(`using Temporal at ${opts.temporalAddress}…`);
      temporal = await connectExisting(opts.temporalAddress, opts.namespace ?? 'default', opts.progress);
    } else {
      const cli = await ensureTemporalCli(opts.progress);
      if (!cli) throw new Error('no Temporal CLI available (set TEMPORAL_CLI_PATH, put `temporal` on PATH, or install Go so it can be built)');
      opts.progress(`Temporal CLI: ${cli.path} (${cli.source})`);
      opts.progress('starting the Temporal dev server…');
      const server = await startDevServer({
        cliPath: cli.path,
        port: opts.temporalPort,
        uiPort: opts.uiPort,
        httpPort: opts.httpPort,
        dbFilename: opts.persist ? join(dataDir, 'temporal.sqlite') : undefined,
        headless: opts.headless,
        namespace: opts.namespace,
      });
      devServer = server;
      cleanups.push(() => server.stop());
      temporal = { address: server.address, namespace: server.namespace, uiUrl: server.uiUrl, httpUrl: server.httpUrl };
    }

    // Ports left undefined, not 0: the emulator reuses the ones saved in its data directory.
    const emulator = await startEmulator({
      port: opts.emulatorPort,
      mtlsPort: opts.mtlsPort,
      defaultPorts: opts.defaultEmulatorPorts,
      adminToken: process.env.EMULATOR_ADMIN_TOKEN || undefined,
      ...(opts.persist ? { dataDir: join(dataDir, 'emulator') } : {}),
    });
    cleanups.push(() => emulator.close());
    const admin = new EmulatorAdmin(emulator.url, emulator.adminToken);
    const adminTokenPath = join(dataDir, 'emulator-admin-token');
    writePrivateFile(adminTokenPath, `${emulator.adminToken}\n`);

    // The worker's OAuth client survives a restart with the emulator's state: create it only when it is not there
    // (or its secret was lost with worker.env), so a worker started from the old worker.env still logs in.
    const workerEnvPath = join(dataDir, 'worker.env');
    let workerSecret = opts.persist ? savedWorkerSecret(workerEnvPath) : undefined;
    const exists = workerSecret !== undefined && (await admin.getClient(WORKER_OAUTH_CLIENT_ID).then(() => true, () => false));
    if (!exists || !workerSecret) {
      workerSecret = randomBytes(24).toString('base64url');
      await admin.createClient({ id: WORKER_OAUTH_CLIENT_ID, name: 'pinrotate worker', secret: workerSecret, mtlsRequired: false });
    }

    const caPath = join(dataDir, 'emulator-ca.pem');
    writePrivateFile(caPath, emulator.caCertificatePem);
    const workerEnv = localWorkerEnv({
      temporal: { address: temporal.address, namespace: temporal.namespace, taskQueue: TASK_QUEUE },
      oauth: { clientId: WORKER_OAUTH_CLIENT_ID, secret: workerSecret },
      emulator,
      mtlsUrl: emulator.mtlsUrl,
      caPath,
      auditPath: opts.auditPath ? resolve(opts.auditPath) : join(dataDir, 'audit.jsonl'),
      metricsPort: opts.metricsPort,
      // What a workflow input may make this worker read: `file:` sources and probe keys below these directories.
      extra: { CERT_SOURCE_DIRS: certSourceDir, PROBE_KEY_DIR: probeKeyDir },
    });
    writePrivateFile(workerEnvPath, formatEnvFile(workerEnv, 'written by `pinrotate dev`: run `pinrotate worker --env-file` with it'));
    // The environment overrides what the stack chose (e.g. CERT_SOURCE_DIRS, CERT_SOURCE_HOSTS), as for `pinrotate worker`.
    const overrides = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && (k.startsWith('CERT_SOURCE_') || k === 'PROBE_KEY_DIR' || k.startsWith('APPROVER_')))) as Record<string, string>;
    const config = loadWorkerConfig({ ...workerEnv, ...overrides, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });

    const stack: Stack = { temporal, devServer, emulator, admin, workerEnv, workerEnvPath, adminTokenPath, config, stop: stopAll };
    if (opts.withWorker) {
      opts.progress('starting a worker (bundling the workflow code)…');
      const running = await createWorker({ config });
      stack.worker = running.worker;
      stack.workerRun = running.run().finally(() => running.close());
      cleanups.push(async () => {
        running.shutdown();
        await stack.workerRun;
      });
    }
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** True when `dataDir` holds a previous `dev` run's emulator state (a restart resumes it). */
export function hasSavedState(dataDir: string): boolean {
  return existsSync(join(resolve(dataDir), 'emulator', 'emulator-state.json'));
}

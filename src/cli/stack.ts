import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Worker } from '@temporalio/worker';
import { loadWorkerConfig, type WorkerConfig } from '../config/worker-config';
import { localWorkerEnv, writeWorkerEnvFile } from '../config/worker-env';
import { EmulatorAdmin } from '../emulator/admin-client';
import { startEmulator, type EmulatorHandle } from '../emulator';
import { ensureTemporalCli } from '../temporal/cli-binary';
import { startDevServer, type DevServer } from '../temporal/dev-server';
import { createWorker } from '../worker';
import { TASK_QUEUE } from '../contract';

/**
 * Everything a local run needs, wired together: the real Temporal dev server, the platform emulator with the
 * worker's OAuth client seeded, a worker.env describing them, and (optionally) a worker in this process.
 */

export const WORKER_OAUTH_CLIENT_ID = 'pinrotate-worker';

export interface StackOptions {
  dataDir: string;
  temporalPort?: number;
  uiPort?: number;
  /** The dev server's HTTP API (grpc-gateway); random when unset. */
  httpPort?: number;
  emulatorPort?: number;
  mtlsPort?: number;
  metricsPort?: number;
  /** Keep Temporal state in `dataDir/temporal.sqlite` (dev) rather than in memory (demo). */
  persist: boolean;
  headless?: boolean;
  withWorker: boolean;
  auditPath?: string;
  progress: (message: string) => void;
}

export interface Stack {
  devServer: DevServer;
  emulator: EmulatorHandle;
  admin: EmulatorAdmin;
  workerEnv: Record<string, string>;
  workerEnvPath: string;
  config: WorkerConfig;
  worker?: Worker;
  workerRun?: Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const cli = await ensureTemporalCli(opts.progress);
  if (!cli) throw new Error('no Temporal CLI available (set TEMPORAL_CLI_PATH, put `temporal` on PATH, or install Go so it can be built)');
  opts.progress(`Temporal CLI: ${cli.path} (${cli.source})`);

  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) {
      await fn().catch(() => undefined);
    }
  };
  try {
    opts.progress('starting the Temporal dev server…');
    const devServer = await startDevServer({
      cliPath: cli.path,
      port: opts.temporalPort,
      uiPort: opts.uiPort,
      httpPort: opts.httpPort,
      dbFilename: opts.persist ? join(dataDir, 'temporal.sqlite') : undefined,
      headless: opts.headless,
    });
    cleanups.push(() => devServer.stop());

    const emulator = await startEmulator({ port: opts.emulatorPort ?? 0, mtlsPort: opts.mtlsPort ?? 0, adminToken: process.env.EMULATOR_ADMIN_TOKEN });
    cleanups.push(() => emulator.close());
    const admin = new EmulatorAdmin(emulator.url, emulator.adminToken);
    const workerSecret = randomBytes(24).toString('base64url');
    await admin.createClient({ id: WORKER_OAUTH_CLIENT_ID, name: 'pinrotate worker', secret: workerSecret, mtlsRequired: false });

    const caPath = join(dataDir, 'emulator-ca.pem');
    writeFileSync(caPath, emulator.caCertificatePem);
    const workerEnv = localWorkerEnv({
      temporal: { address: devServer.address, namespace: devServer.namespace, taskQueue: TASK_QUEUE },
      oauth: { clientId: WORKER_OAUTH_CLIENT_ID, secret: workerSecret },
      emulator,
      mtlsUrl: emulator.mtlsUrl,
      caPath,
      auditPath: opts.auditPath ? resolve(opts.auditPath) : join(dataDir, 'audit.jsonl'),
      metricsPort: opts.metricsPort,
    });
    const workerEnvPath = join(dataDir, 'worker.env');
    writeWorkerEnvFile(workerEnvPath, workerEnv, 'written by `pinrotate dev`: run `pinrotate worker --env-file` with it');
    const config = loadWorkerConfig({ ...workerEnv, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });

    const stack: Stack = { devServer, emulator, admin, workerEnv, workerEnvPath, config, stop: stopAll };
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

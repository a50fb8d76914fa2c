import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { installRuntime } from '../../src/temporal/runtime';
import type { Client } from '@temporalio/client';
import { loadWorkerConfig, type WorkerConfig } from '../../src/config/worker-config';
import { localWorkerEnv } from '../../src/config/worker-env';
import { EmulatorAdmin } from '../../src/emulator/admin-client';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { describeCertificate, pinFromInfo } from '../../src/pins/digest';
import type { Pin } from '../../src/pins/types';
import { ensureTemporalCli } from '../../src/temporal/cli-binary';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { freePort } from '../../src/temporal/net';
import { createLogger } from '../../src/logging';
import { createWorker } from '../../src/worker';
import type { AuditRecord } from '../../src/activities/audit';
import { newApproverKey } from '../../src/approvals/sign';
import { bundleWorkflows } from '../../src/workflow-bundle';

/** Approver keys the harness worker trusts (APPROVER_KEYS): tests sign approvals with these; `mallory` is not trusted. */
export const testApprovers = { alice: newApproverKey(), bob: newApproverKey(), mallory: newApproverKey() };
/** CERT_IDENTITY_MAP of the harness worker: this client's leaf may name the service instead of the client. */
export const MAPPED_CLIENT = { clientId: 'hostile-mapped', name: 'mapped-service.example' };

/**
 * One real Temporal dev server, one workflow bundle, one emulator and one worker for the whole integration run
 * (DESIGN.md §8). Suites share it and use distinct client ids.
 */
export interface Harness {
  env: TestWorkflowEnvironment;
  devServer: DevServer;
  client: Client;
  emulator: EmulatorHandle;
  admin: EmulatorAdmin;
  config: WorkerConfig;
  worker: Worker;
  taskQueue: string;
  auditPath: string;
  /** The dev server's Web UI and HTTP API (grpc-gateway) base URLs. */
  uiUrl: string;
  httpUrl: string;
  dir: string;
  bundle: WorkflowBundleWithSourceMap;
  logger: ReturnType<typeof createLogger>;
}

/** Every log line the worker and the emulator wrote during the run (scanned for secrets at the end). */
export const capturedLogs: string[] = [];
/** Every private key the emulator CA issued during the run (none may appear anywhere else). */
export const issuedPrivateKeys: string[] = [];
/** Secrets of the run: the worker's OAuth secret, the webhook token and secret, the admin token. */
export const runSecrets: Record<string, string> = {};

class RecordingAdmin extends EmulatorAdmin {
  override async issueCertificate(request: Parameters<EmulatorAdmin['issueCertificate']>[0]) {
    const issued = await super.issueCertificate(request);
    issuedPrivateKeys.push(issued.privateKeyPem);
    return issued;
  }
}

let current: Harness | undefined;

type RunningWorker = Awaited<ReturnType<typeof createWorker>>;
/** Every worker started in the run, so teardown can stop them all even when a test timed out mid-way. */
const workers = new Set<{ running: RunningWorker; done: Promise<void> }>();

/**
 * Starts a worker owned by the harness: `stop()` ends it, and stopHarness ends any a test left behind. A worker
 * that outlives the dev server polls forever and keeps the test process alive.
 */
export async function startOwnedWorker(opts: Parameters<typeof createWorker>[0]): Promise<{ running: RunningWorker; stop(): Promise<void> }> {
  const running = await createWorker(opts);
  const entry = { running, done: running.run() };
  workers.add(entry);
  return {
    running,
    async stop() {
      workers.delete(entry);
      running.shutdown();
      await entry.done;
    },
  };
}

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      process.stderr.write(`[harness] ${what} did not finish within ${ms} ms; going on\n`);
      resolve();
    }, ms);
  });
  try {
    await Promise.race([p.then(() => undefined), limit]);
  } catch (err) {
    process.stderr.write(`[harness] ${what} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    clearTimeout(timer);
  }
}

export function harness(): Harness {
  if (!current) throw new Error('integration harness not started');
  return current;
}

export async function startHarness(): Promise<Harness> {
  installRuntime({ logLevel: 'ERROR' });
  const cli = await ensureTemporalCli((m) => process.stderr.write(`[harness] ${m}\n`));
  const uiPort = await freePort();
  const httpPort = await freePort();
  // The project's one launcher (also behind `pinrotate dev`): search attributes registered, one partition per queue.
  if (!cli) throw new Error('no Temporal CLI available');
  const devServer = await startDevServer({ cliPath: cli.path, uiPort, httpPort });
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: devServer.address, namespace: devServer.namespace });
  const bundle = await bundleWorkflows({ info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never);
  // Debug level, kept in memory: the test output stays quiet and the secrets scan sees every line.
  const logger = createLogger('debug', { write: (line: string) => void capturedLogs.push(line) });
  const emulator = await startEmulator({ rateLimitPerMinute: 0, logger });
  const admin = new RecordingAdmin(emulator.url, emulator.adminToken);
  const dir = mkdtempSync(join(tmpdir(), 'pinrotate-it-'));
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, emulator.caCertificatePem);
  const secret = randomBytes(18).toString('base64url');
  Object.assign(runSecrets, { workerClientSecret: secret, pkiToken: emulator.pkiToken, pkiSecret: emulator.pkiSecret, adminToken: emulator.adminToken });
  await admin.createClient({ id: 'it-worker', name: 'integration worker', secret, mtlsRequired: false });
  const taskQueue = `it-${randomBytes(4).toString('hex')}`;
  const auditPath = join(dir, 'audit.jsonl');
  const approverDir = join(dir, 'approvers');
  mkdirSync(approverDir);
  writeFileSync(join(approverDir, 'alice.pem'), testApprovers.alice.publicKeyPem);
  writeFileSync(join(approverDir, 'bob.pem'), testApprovers.bob.publicKeyPem);
  const config = loadWorkerConfig(
    localWorkerEnv({
      temporal: { address: env.address, taskQueue },
      oauth: { clientId: 'it-worker', secret },
      emulator,
      mtlsUrl: emulator.mtlsUrl,
      caPath,
      auditPath,
      logLevel: 'debug',
      // What workflow inputs may make the worker read: the run's own directory (file: sources, probe keys).
      extra: {
        GENESYS_TIMEOUT_MS: '5000',
        CERT_SOURCE_DIRS: dir,
        PROBE_KEY_DIR: dir,
        APPROVER_KEYS: approverDir,
        CERT_IDENTITY_MAP: JSON.stringify({ [MAPPED_CLIENT.clientId]: [MAPPED_CLIENT.name] }),
      },
    }),
  );
  const { running } = await startOwnedWorker({ config, connection: env.nativeConnection, workflowBundle: bundle, logger });
  const worker = running.worker;
  current = { env, devServer, client: env.client, emulator, admin, config, worker, taskQueue, auditPath, dir, bundle, logger, uiUrl: devServer.uiUrl!, httpUrl: devServer.httpUrl };
  return current;
}

export async function stopHarness(): Promise<void> {
  if (!current) return;
  const h = current;
  current = undefined;
  const left = [...workers];
  workers.clear();
  for (const w of left) w.running.shutdown();
  await within(30_000, 'worker shutdown', Promise.all(left.map((w) => w.done)));
  await within(10_000, 'client teardown', h.env.teardown());
  await within(30_000, 'dev server teardown', h.devServer.stop());
  await within(10_000, 'emulator close', h.emulator.close());
  rmSync(h.dir, { recursive: true, force: true });
}

/** Seeds a client pinned to a fresh certificate from the emulator CA; returns its PEM and pin. */
export async function seedClient(id: string, opts: { mtlsRequired?: boolean; state?: 'active' | 'inactive'; backup?: boolean } = {}) {
  const h = harness();
  const cert = await h.admin.issueCertificate({ commonName: id, days: 30 });
  const info = describeCertificate(new X509Certificate(cert.certificatePem));
  const pins: Pin[] = [pinFromInfo(info, 'primary')];
  let backup: Awaited<ReturnType<EmulatorAdmin['issueCertificate']>> | undefined;
  if (opts.backup) {
    backup = await h.admin.issueCertificate({ commonName: `${id}-backup`, days: 365 });
    pins.push(pinFromInfo(describeCertificate(new X509Certificate(backup.certificatePem)), 'backup'));
  }
  await h.admin.createClient({
    id,
    name: `client ${id}`,
    secret: randomBytes(12).toString('hex'),
    mtlsRequired: opts.mtlsRequired ?? true,
    certificateChain: cert.certificatePem,
    pins,
    ...(opts.state ? { state: opts.state } : {}),
  });
  return { certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem, pins, spki: info.sha256Spki, backup };
}

export async function issue(commonName: string, days = 90) {
  const h = harness();
  const cert = await h.admin.issueCertificate({ commonName, days });
  return { ...cert, info: describeCertificate(new X509Certificate(cert.certificatePem)) };
}

export function auditRecords(): AuditRecord[] {
  const h = harness();
  if (!existsSync(h.auditPath)) return [];
  return readFileSync(h.auditPath, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as AuditRecord);
}

/** Retry intervals kept tiny so fault tests finish in seconds. */
export const FAST_RETRY = { initialInterval: '50ms', maximumInterval: '200ms', maximumAttempts: 8 };

/** Captures what a CLI command writes, to scan its output like any other. */
export async function captureCli(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  // The CLI writes text; node's test runner reports this file's results on the same stdout, serialized into bytes,
  // at any moment. Those bytes pass through, or the results of tests that ended meanwhile would be lost.
  const capture =
    (original: typeof stdout, stream: NodeJS.WriteStream) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      if (typeof chunk !== 'string') return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
      out.push(chunk);
      return true;
    };
  process.stdout.write = capture(stdout, process.stdout) as typeof process.stdout.write;
  process.stderr.write = capture(stderr, process.stderr) as typeof process.stderr.write;
  try {
    return { code: await fn(), out: out.join('') };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
}

import type { Server } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import { Context } from '@temporalio/activity';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type pino from 'pino';
import { createActivities, type ActivityDeps, type Activities } from './activities';
import { JsonlAuditSink } from './activities/audit';
import { createScheduleActivities } from './schedules/activities';
import { temporalFleetView } from './schedules/visibility';
import type { InventoryDeps } from './activities/inventory';
import { PkiWebhookClient } from './activities/pki';
import type { WorkerConfig } from './config/worker-config';
import { EmulatorAdmin } from './emulator/admin-client';
import { GenesysPlatform } from './genesys/platform-client';
import { createLogger, redactUrl } from './logging';
import { RotationMetrics } from './metrics/registry';
import { startMetricsServer } from './metrics/server';
import { freePort } from './temporal/net';
import { installRuntime, sdkLogLevel } from './temporal/runtime';
import { platformTaskQueue } from './contract';
import { WORKFLOWS_PATH, workflowBundlerOptions } from './workflow-bundle';

/** `emulator-ca` sources: a certificate from the emulator's CA (its private key is dropped here, on purpose). */
function emulatorCaIssuer(url?: string, token?: string): ((commonName: string) => Promise<string>) | undefined {
  if (!url || !token) return undefined;
  const admin = new EmulatorAdmin(url, token);
  return async (commonName) => (await admin.issueCertificate({ commonName })).certificatePem;
}

/** Builds the activity dependencies from validated configuration: one platform client and token per worker. */
export function buildDeps(config: WorkerConfig, metrics?: RotationMetrics): ActivityDeps & { platform: GenesysPlatform } {
  const env = config.env;
  return {
    platform: new GenesysPlatform(
      {
        clientId: env.GENESYS_CLIENT_ID,
        clientSecret: env.GENESYS_CLIENT_SECRET,
        environment: env.GENESYS_REGION,
        gatewayUrl: env.GENESYS_GATEWAY_URL,
        timeoutMs: env.GENESYS_TIMEOUT_MS,
      },
      Date.now,
      metrics,
    ),
    pki: new PkiWebhookClient({ url: env.PKI_WEBHOOK_URL, token: env.PKI_WEBHOOK_TOKEN, secret: env.PKI_WEBHOOK_SECRET, signatureTime: env.PKI_WEBHOOK_SIGNATURE_TIME }),
    audit: new JsonlAuditSink(env.AUDIT_LOG_PATH),
    certificates: { trustPem: config.trustPem, expectedIssuer: env.PIN_EXPECTED_ISSUER, minRemainingMs: config.minRemainingMs, identityMap: config.identityMap },
    approvers: config.approvers,
    mtlsUrl: env.GENESYS_MTLS_URL,
    mtlsCaPem: config.mtlsCaPem,
    metrics,
    certSources: { ...config.certSources, issueFromCa: emulatorCaIssuer(env.EMULATOR_ADMIN_URL, env.EMULATOR_ADMIN_TOKEN) },
    probeKeyDirs: config.probeKeyDirs,
  };
}

/**
 * Wraps every activity so each log line it produces is a pino JSON line carrying the workflow id, run id,
 * activity type and attempt. Failures are logged by type and message only (never inputs: they may hold PEM).
 */
export function withActivityLogging<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T, logger: pino.Logger): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const info = Context.current().info;
      // The child logger (its bindings are serialised and redacted) is made only when a line will be written.
      let child: pino.Logger | undefined;
      const log = (): pino.Logger => (child ??= logger.child({ workflowId: info.workflowExecution?.workflowId, runId: info.workflowExecution?.runId, activity: info.activityType, attempt: info.attempt }));
      const started = Date.now();
      if (logger.isLevelEnabled('debug')) log().debug('activity started');
      try {
        const result = await fn(...args);
        if (logger.isLevelEnabled('info')) log().info({ ms: Date.now() - started }, 'activity completed');
        return result;
      } catch (err) {
        const e = err as { name?: string; type?: string; message?: string; nonRetryable?: boolean };
        log().warn({ ms: Date.now() - started, error: { type: e.type ?? e.name, message: e.message, nonRetryable: e.nonRetryable ?? false } }, 'activity failed');
        throw err;
      }
    };
  }
  return wrapped as T;
}

export interface CreateWorkerOptions {
  config: WorkerConfig;
  connection?: NativeConnection;
  /** A prebuilt bundle (tests build one per run); otherwise the worker bundles src/workflows at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  deps?: ActivityDeps;
  logger?: pino.Logger;
  /** Slot and cache sizes (the bench tries them); the SDK's defaults otherwise. */
  tuning?: WorkerTuning;
}

/** Worker options that change capacity, never behaviour: every reliability guarantee holds with any values. */
export type WorkerTuning = Pick<WorkerOptions, 'maxConcurrentWorkflowTaskExecutions' | 'maxCachedWorkflows' | 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskPolls' | 'maxConcurrentActivityTaskPolls'>;

export interface RunningWorker {
  /** Workflows and the activities that do not call the platform. */
  worker: Worker;
  /** Platform-calling activities on `<task queue>-platform`, rate-capped cluster-wide by the server. */
  platformWorker: Worker;
  connection: NativeConnection;
  /** Runs both workers until shutdown. */
  run(): Promise<void>;
  shutdown(): void;
  deps: ActivityDeps;
  metrics: RotationMetrics;
  metricsServer?: Server;
  /** Closes what createWorker opened (the connection when it made it, the metrics server). */
  close(): Promise<void>;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<RunningWorker> {
  const env = opts.config.env;
  const logger = opts.logger ?? createLogger(env.LOG_LEVEL);
  const runtimeMetricsPort = env.METRICS_PORT ? await freePort() : undefined;
  installRuntime({ runtimeMetricsPort, logLevel: sdkLogLevel(env.LOG_LEVEL), logger });
  const metrics = opts.deps?.metrics ?? new RotationMetrics();
  const ownsConnection = !opts.connection;
  const connection = opts.connection ?? (await NativeConnection.connect(opts.config.temporal.connectionOptions));
  const namespace = opts.config.temporal.namespace;
  const dataConverter = opts.config.codec ? { payloadCodecs: [opts.config.codec] } : undefined;
  // The inventory reads rotations and schedules through this worker's own connection (deps may bring a fake).
  const fleet = temporalFleetView(new Client({ connection, namespace, dataConverter }));
  const deps: ActivityDeps & InventoryDeps = { fleet, ...(opts.deps ?? buildDeps(opts.config, metrics)) };
  deps.metrics ??= metrics;
  // The rotation's activities and the scheduled run's renewal check, registered on both queues.
  const activities: Activities & ReturnType<typeof createScheduleActivities> = withActivityLogging({ ...createActivities(deps), ...createScheduleActivities() }, logger);
  const tuning: WorkerTuning = {
    maxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS,
    ...opts.tuning,
  };
  const worker = await Worker.create({
    connection,
    namespace,
    dataConverter,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    activities,
    shutdownGraceTime: SHUTDOWN_GRACE,
    shutdownForceTime: SHUTDOWN_FORCE,
    ...tuning,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH, bundlerOptions: workflowBundlerOptions }),
  });
  // Every platform call goes through this queue. The server enforces maxTaskQueueActivitiesPerSecond for the
  // queue as a whole, so any number of workers together stay under the platform's per-token limit.
  const platformWorker = await Worker.create({
    connection,
    namespace,
    dataConverter,
    taskQueue: platformTaskQueue(env.TEMPORAL_TASK_QUEUE),
    activities,
    maxTaskQueueActivitiesPerSecond: env.PLATFORM_RATE_LIMIT_PER_MINUTE / 60,
    shutdownGraceTime: SHUTDOWN_GRACE,
    shutdownForceTime: SHUTDOWN_FORCE,
    ...(tuning.maxConcurrentActivityTaskExecutions ? { maxConcurrentActivityTaskExecutions: tuning.maxConcurrentActivityTaskExecutions } : {}),
    ...(tuning.maxConcurrentActivityTaskPolls ? { maxConcurrentActivityTaskPolls: tuning.maxConcurrentActivityTaskPolls } : {}),
  });
  const metricsServer = env.METRICS_PORT
    ? await startMetricsServer({ port: env.METRICS_PORT, metrics, runtimeMetricsUrl: runtimeMetricsPort ? `http://127.0.0.1:${runtimeMetricsPort}/metrics` : undefined })
    : undefined;
  return {
    worker,
    platformWorker,
    connection,
    deps,
    metrics,
    metricsServer,
    async run() {
      await Promise.all([worker.run(), platformWorker.run()]);
    },
    shutdown() {
      for (const w of [worker, platformWorker]) if (w.getState() === 'RUNNING') w.shutdown();
    },
    async close() {
      if (metricsServer) await new Promise((r) => metricsServer.close(r));
      if (ownsConnection) await connection.close();
    },
  };
}

/**
 * Shutdown is bounded whatever the server's state: running activities get SHUTDOWN_GRACE to finish, the SDK gives
 * up draining after SHUTDOWN_FORCE (a dead server never answers the last polls), and runWorker exits the process
 * SHUTDOWN_EXIT_MS after the signal at the latest. Work left unfinished is retried by the server on another worker.
 */
export const SHUTDOWN_GRACE = '5s';
export const SHUTDOWN_FORCE = '10s';
export const SHUTDOWN_EXIT_MS = 15_000;

/** Runs a worker until SIGINT/SIGTERM (the SDK's default shutdown signals), then drains for a bounded time. */
export async function runWorker(config: WorkerConfig, logger = createLogger(config.env.LOG_LEVEL)): Promise<void> {
  const running = await createWorker({ config, logger });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal, drainMs: SHUTDOWN_EXIT_MS }, 'worker shutting down');
    running.shutdown();
    setTimeout(() => {
      logger.warn({ signal, drainMs: SHUTDOWN_EXIT_MS }, 'worker stopped: drain did not finish in time, exiting');
      process.exit(1);
    }, SHUTDOWN_EXIT_MS).unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  logger.info(
    {
      temporal: config.temporal.connectionOptions.address,
      namespace: config.temporal.namespace,
      taskQueue: config.env.TEMPORAL_TASK_QUEUE,
      platform: redactUrl(config.env.GENESYS_GATEWAY_URL) ?? config.env.GENESYS_REGION,
      metrics: config.env.METRICS_PORT ? `http://127.0.0.1:${config.env.METRICS_PORT}/metrics` : null,
      // Memory stays flat in fleet size with a bounded heap (README "Performance": --max-old-space-size=256).
      heapLimitMb: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
      maxCachedWorkflows: running.worker.options.maxCachedWorkflows,
    },
    'worker started',
  );
  try {
    await running.run();
  } finally {
    // Closing the connection to a dead server must not hold the exit either.
    await Promise.race([running.close(), new Promise((r) => setTimeout(r, 3000).unref())]);
    logger.info('worker stopped');
  }
}

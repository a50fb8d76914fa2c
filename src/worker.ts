import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type pino from 'pino';
import { createActivities, type ActivityDeps } from './activities';
import { JsonlAuditSink } from './activities/audit';
import { PkiWebhookClient } from './activities/pki';
import type { WorkerConfig } from './config/worker-config';
import { GenesysPlatform } from './genesys/platform-client';
import { createLogger } from './logging';
import { installRuntime, sdkLogLevel } from './temporal/runtime';

/** Builds the activity dependencies from validated configuration: one platform client and token per worker. */
export function buildDeps(config: WorkerConfig): ActivityDeps & { platform: GenesysPlatform } {
  const env = config.env;
  return {
    platform: new GenesysPlatform({
      clientId: env.GENESYS_CLIENT_ID,
      clientSecret: env.GENESYS_CLIENT_SECRET,
      environment: env.GENESYS_REGION,
      gatewayUrl: env.GENESYS_GATEWAY_URL,
      timeoutMs: env.GENESYS_TIMEOUT_MS,
    }),
    pki: new PkiWebhookClient({ url: env.PKI_WEBHOOK_URL, token: env.PKI_WEBHOOK_TOKEN, secret: env.PKI_WEBHOOK_SECRET }),
    audit: new JsonlAuditSink(env.AUDIT_LOG_PATH),
    certificates: { trustPem: config.trustPem, expectedIssuer: env.PIN_EXPECTED_ISSUER, minRemainingMs: config.minRemainingMs },
    mtlsUrl: env.GENESYS_MTLS_URL,
    mtlsCaPem: config.mtlsCaPem,
    certSources: {
      emulatorAdmin: env.EMULATOR_ADMIN_URL && env.EMULATOR_ADMIN_TOKEN ? { url: env.EMULATOR_ADMIN_URL, token: env.EMULATOR_ADMIN_TOKEN } : undefined,
    },
  };
}

export interface CreateWorkerOptions {
  config: WorkerConfig;
  connection?: NativeConnection;
  /** A prebuilt bundle (tests build one per run); otherwise the worker bundles src/workflows at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  deps?: ActivityDeps;
  logger?: pino.Logger;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<{ worker: Worker; connection: NativeConnection; deps: ActivityDeps; ownsConnection: boolean }> {
  const env = opts.config.env;
  installRuntime({ metricsPort: env.METRICS_PORT, logLevel: sdkLogLevel(env.LOG_LEVEL) });
  const ownsConnection = !opts.connection;
  const connection = opts.connection ?? (await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS }));
  const deps = opts.deps ?? buildDeps(opts.config);
  const worker = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    activities: createActivities(deps),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
  });
  return { worker, connection, deps, ownsConnection };
}

/** Runs a worker until SIGINT/SIGTERM (the SDK's default shutdown signals). */
export async function runWorker(config: WorkerConfig, logger = createLogger(config.env.LOG_LEVEL)): Promise<void> {
  const { worker, connection } = await createWorker({ config, logger });
  logger.info(
    { temporal: config.env.TEMPORAL_ADDRESS, namespace: config.env.TEMPORAL_NAMESPACE, taskQueue: config.env.TEMPORAL_TASK_QUEUE, platform: config.env.GENESYS_GATEWAY_URL ?? config.env.GENESYS_REGION },
    'worker started',
  );
  try {
    await worker.run();
  } finally {
    await connection.close();
    logger.info('worker stopped');
  }
}

import { chmodSync, writeFileSync } from 'node:fs';
import { formatEnvFile } from './env-file';

/**
 * The environment a worker reads (src/config/worker-config.ts) when it runs against a local stack: the dev server
 * and the platform emulator. Built in one place for `pinrotate dev`, the integration tests, the bench and chaos.
 */

/** What the emulator prints at start (or its handle holds). */
export interface EmulatorEndpoints {
  url: string;
  pkiWebhookUrl: string;
  pkiToken: string;
  pkiSecret: string;
  adminToken: string;
}

export interface LocalWorkerEnv {
  temporal: { address: string; namespace?: string; taskQueue: string };
  /** The worker's own OAuth client on the platform. */
  oauth: { clientId: string; secret: string };
  emulator: EmulatorEndpoints;
  /** The emulator CA's certificate on disk: the trust bundle for new certificates (and the mTLS server's CA). */
  caPath: string;
  auditPath: string;
  /** Platform calls go here; default the emulator itself (chaos puts a lossy proxy in between). */
  gatewayUrl?: string;
  /** The mTLS check endpoint, for probes. */
  mtlsUrl?: string;
  /** The worker paces itself to this; 0 or unset leaves it to the platform's headers. */
  rateLimitPerMinute?: number;
  logLevel?: string;
  metricsPort?: number;
  /** Anything else the caller sets (e.g. GENESYS_TIMEOUT_MS in tests). */
  extra?: Record<string, string>;
}

export function localWorkerEnv(o: LocalWorkerEnv): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: o.temporal.address,
    ...(o.temporal.namespace ? { TEMPORAL_NAMESPACE: o.temporal.namespace } : {}),
    TEMPORAL_TASK_QUEUE: o.temporal.taskQueue,
    GENESYS_CLIENT_ID: o.oauth.clientId,
    GENESYS_CLIENT_SECRET: o.oauth.secret,
    GENESYS_GATEWAY_URL: o.gatewayUrl ?? o.emulator.url,
    ...(o.mtlsUrl ? { GENESYS_MTLS_URL: o.mtlsUrl, GENESYS_MTLS_CA_FILE: o.caPath } : {}),
    PKI_WEBHOOK_URL: o.emulator.pkiWebhookUrl,
    PKI_WEBHOOK_TOKEN: o.emulator.pkiToken,
    PKI_WEBHOOK_SECRET: o.emulator.pkiSecret,
    PIN_TRUST_BUNDLE: o.caPath,
    EMULATOR_ADMIN_URL: o.emulator.url,
    EMULATOR_ADMIN_TOKEN: o.emulator.adminToken,
    AUDIT_LOG_PATH: o.auditPath,
    ...(o.rateLimitPerMinute ? { PLATFORM_RATE_LIMIT_PER_MINUTE: String(o.rateLimitPerMinute) } : {}),
    ...(o.logLevel ? { LOG_LEVEL: o.logLevel } : {}),
    ...(o.metricsPort ? { METRICS_PORT: String(o.metricsPort) } : {}),
    ...o.extra,
  };
}

/** Writes a worker.env: it holds the worker's OAuth secret and the webhook secret, so owner-only. */
export function writeWorkerEnvFile(path: string, env: Record<string, string>, header: string): void {
  writeFileSync(path, formatEnvFile(env, header), { mode: 0o600 });
  chmodSync(path, 0o600);
}

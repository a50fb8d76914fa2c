import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { hexOfPublicKey } from '../approvals/keys';
import { AesGcmCodec, codecFromEnv } from '../codec/aes-gcm';
import { parseDuration } from '../pins/duration';
import { temporalTargetFrom, type TemporalTarget } from '../temporal/connection';
import { isClientId, PRINCIPAL_ID_PATTERN, TASK_QUEUE, type TrustedKey } from '../contract';

/**
 * Worker configuration, read and validated once at start. Every problem is reported with the variable's name,
 * never its value (several are secrets).
 */

const duration = z.string().refine((v) => {
  try {
    parseDuration(v);
    return true;
  } catch {
    return false;
  }
}, 'must be a duration like 7d, 12h, 30m or 0s');

const port = z.coerce.number().int().min(0).max(65535);

export const workerEnvSchema = z
  .object({
    // Connection details (address, namespace, TLS, API key) follow @temporalio/envconfig: see src/temporal/connection.ts.
    TEMPORAL_ADDRESS: z.string().min(1).optional(),
    TEMPORAL_NAMESPACE: z.string().min(1).optional(),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default(TASK_QUEUE),
    GENESYS_CLIENT_ID: z.string().min(1),
    GENESYS_CLIENT_SECRET: z.string().min(1),
    GENESYS_REGION: z.string().min(1).optional(),
    GENESYS_GATEWAY_URL: z.url().optional(),
    GENESYS_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
    GENESYS_MTLS_URL: z.url().optional(),
    GENESYS_MTLS_CA_FILE: z.string().min(1).optional(),
    PKI_WEBHOOK_URL: z.url(),
    PKI_WEBHOOK_TOKEN: z.string().min(1),
    PKI_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters'),
    PIN_TRUST_BUNDLE: z.string().min(1),
    PIN_EXPECTED_ISSUER: z.string().min(1).default('GenesysCloudArchitectureCA'),
    PIN_MIN_REMAINING: duration.default('7d'),
    EMULATOR_ADMIN_URL: z.url().optional(),
    EMULATOR_ADMIN_TOKEN: z.string().min(1).optional(),
    AUDIT_LOG_PATH: z.string().min(1).default('audit.jsonl'),
    METRICS_PORT: port.optional(),
    PLATFORM_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(300),
    /**
     * Workflows kept in the worker's sticky cache. Fixed rather than the SDK's default, which it sizes from the
     * heap limit: a few thousand on a large machine, too few for a fleet's concurrency under a small
     * --max-old-space-size (then workflows are evicted and replayed).
     */
    WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(100_000).default(200),
    PAYLOAD_CODEC_KEY: z.string().min(1).optional(),
    PAYLOAD_CODEC_KEY_ID: z.string().min(1).max(64).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // Trust boundaries (DESIGN.md §4 Approval, §5 IDENTITY_MISMATCH); see approverKeysFrom and identityMapFrom.
    APPROVER_KEYS: z.string().min(1).optional(),
    CERT_IDENTITY_MAP: z.string().min(1).optional(),
  })
  .refine((env) => env.GENESYS_REGION || env.GENESYS_GATEWAY_URL, {
    message: 'set GENESYS_REGION (e.g. mypurecloud.ie) or GENESYS_GATEWAY_URL (an org gateway or the emulator)',
    path: ['GENESYS_REGION'],
  });

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export interface WorkerConfig {
  env: WorkerEnv;
  temporal: TemporalTarget;
  /** Encrypts workflow payloads when PAYLOAD_CODEC_KEY is set. */
  codec?: AesGcmCodec;
  trustPem: string;
  mtlsCaPem?: string;
  minRemainingMs: number;
  /** APPROVER_KEYS: Ed25519 public keys by approver id; empty means no approval can be given. */
  approvers: TrustedKey[];
  /** CERT_IDENTITY_MAP: client id → further names its leaf may carry. */
  identityMap: Record<string, string[]>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid worker configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function loadWorkerConfig(source: Record<string, string | undefined>): WorkerConfig {
  const parsed = workerEnvSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const env = parsed.data;
  const readPem = (name: string, path: string): string => {
    try {
      const text = readFileSync(path, 'utf8');
      if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificate in it');
      return text;
    } catch (err) {
      throw new ConfigError([`${name}: cannot use ${path}: ${err instanceof Error ? err.message : String(err)}`]);
    }
  };
  let temporal: TemporalTarget;
  try {
    temporal = temporalTargetFrom(source);
  } catch (err) {
    throw new ConfigError([`TEMPORAL_* / TEMPORAL_CONFIG_FILE: ${err instanceof Error ? err.message : String(err)}`]);
  }
  let codec: AesGcmCodec | undefined;
  try {
    codec = codecFromEnv({ PAYLOAD_CODEC_KEY: env.PAYLOAD_CODEC_KEY, PAYLOAD_CODEC_KEY_ID: env.PAYLOAD_CODEC_KEY_ID });
  } catch (err) {
    throw new ConfigError([`PAYLOAD_CODEC_KEY: ${err instanceof Error ? err.message : String(err)}`]);
  }
  return {
    env,
    temporal,
    codec,
    trustPem: readPem('PIN_TRUST_BUNDLE', env.PIN_TRUST_BUNDLE),
    mtlsCaPem: env.GENESYS_MTLS_CA_FILE ? readPem('GENESYS_MTLS_CA_FILE', env.GENESYS_MTLS_CA_FILE) : undefined,
    minRemainingMs: parseDuration(env.PIN_MIN_REMAINING),
    approvers: env.APPROVER_KEYS ? approverKeysFrom(env.APPROVER_KEYS) : [],
    identityMap: env.CERT_IDENTITY_MAP ? identityMapFrom(env.CERT_IDENTITY_MAP) : {},
  };
}

/**
 * APPROVER_KEYS: a directory of `<approver-id>.pem` Ed25519 public keys (other files ignored), or a JSON file
 * `{"<approver-id>": "<PEM or 64-hex public key>"}`. Ids follow PRINCIPAL_ID_PATTERN.
 */
export function approverKeysFrom(path: string): TrustedKey[] {
  const problems: string[] = [];
  const entries: Array<[string, string]> = [];
  try {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) {
        if (name.endsWith('.pem')) entries.push([name.slice(0, -4), readFileSync(join(path, name), 'utf8')]);
      }
    } else {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('must be a JSON object {"approver-id": "public key"}');
      for (const [id, key] of Object.entries(parsed)) entries.push([id, typeof key === 'string' ? key : '']);
    }
  } catch (err) {
    throw new ConfigError([`APPROVER_KEYS: cannot use ${path}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const keys: TrustedKey[] = [];
  for (const [id, text] of entries) {
    if (!PRINCIPAL_ID_PATTERN.test(id)) {
      problems.push(`APPROVER_KEYS: approver id ${JSON.stringify(id.slice(0, 40))} must match ${PRINCIPAL_ID_PATTERN}`);
      continue;
    }
    try {
      keys.push({ id, publicKey: hexOfPublicKey(text) });
    } catch (err) {
      problems.push(`APPROVER_KEYS: the key of ${id} ${err instanceof Error ? err.message.replace(/^error:\s*/i, '') : 'is unreadable'}`);
    }
  }
  if (keys.length === 0 && problems.length === 0) problems.push(`APPROVER_KEYS: ${path} holds no approver key`);
  if (problems.length > 0) throw new ConfigError(problems);
  return keys;
}

/** CERT_IDENTITY_MAP: JSON (inline, or a file path) `{"<clientId>": ["name the leaf may carry", …]}`. */
export function identityMapFrom(value: string): Record<string, string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.trim().startsWith('{') ? value : readFileSync(value, 'utf8'));
  } catch (err) {
    throw new ConfigError([`CERT_IDENTITY_MAP: not JSON (inline or a file): ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(['CERT_IDENTITY_MAP: must be a JSON object {"clientId": ["name", …]}']);
  const problems: string[] = [];
  const map: Record<string, string[]> = {};
  for (const [clientId, names] of Object.entries(parsed)) {
    if (!isClientId(clientId)) problems.push(`CERT_IDENTITY_MAP: ${JSON.stringify(String(clientId).slice(0, 40))} is not a client id`);
    else if (!Array.isArray(names) || names.length > 32 || !names.every((n) => typeof n === 'string' && n.length > 0 && n.length <= 256)) {
      problems.push(`CERT_IDENTITY_MAP: ${clientId} must map to a list of at most 32 names of 1-256 characters`);
    } else map[clientId] = names as string[];
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return map;
}

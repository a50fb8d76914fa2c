import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, sep } from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { CertSourceDeps } from '../activities/cert-source';
import type { HostRule } from '../activities/safe-fetch';
import { hexOfPublicKey } from '../approvals/keys';
import { AesGcmCodec, codecFromEnv } from '../codec/aes-gcm';
import { parseDuration } from '../pins/duration';
import { DEFAULT_EXPECTED_ISSUER, DEFAULT_MIN_REMAINING } from '../pins/policy';
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

const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''], { message: 'must be 1 or 0 (true/false)' })
  .transform((v) => v === '1' || v === 'true' || v === 'yes')
  .default(false);

/** Where a directory the worker may read from must not be: the whole tree, or kernel and device files. */
const FORBIDDEN_DIRS = ['/proc', '/sys', '/dev'];

/**
 * A list of directories (separated like PATH) made canonical: each must exist, be a directory and not be `/`,
 * /proc, /sys or /dev (or below them). Symbolic links in the configured value are resolved here, once, by the
 * operator's choice; what a workflow names later must then be below the canonical form with no link of its own.
 */
export function canonicalDirs(value: string): string[] {
  const dirs: string[] = [];
  for (const entry of value.split(delimiter).map((d) => d.trim()).filter(Boolean)) {
    if (!isAbsolute(entry)) throw new Error(`"${entry}" is not an absolute path`);
    let real: string;
    try {
      real = realpathSync(entry);
      if (!statSync(real).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new Error(`"${entry}" is not a usable directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (real === sep || FORBIDDEN_DIRS.some((f) => real === f || real.startsWith(f + sep))) throw new Error(`"${entry}" is not allowed (it is / or a kernel or device tree)`);
    dirs.push(real);
  }
  if (dirs.length === 0) throw new Error('names no directory');
  return dirs;
}

/** `host`, `host:port`, `[v6]:port`, `*.example.com`: comma-separated; a rule without a port allows 443 only. */
export function parseHostRules(value: string): HostRule[] {
  const rules: HostRule[] = [];
  for (const entry of value.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)) {
    const m = /^(?:\[([0-9a-f:.]+)\]|([^:\s]+))(?::(\d{1,5}))?$/.exec(entry);
    const host = m ? (m[1] ?? m[2]) : undefined;
    const validName = host !== undefined && (isIP(host) !== 0 || /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(host));
    const p = m?.[3] !== undefined ? Number(m[3]) : undefined;
    if (!validName || (p !== undefined && (p < 1 || p > 65535))) throw new Error(`"${entry.slice(0, 80)}" is not host, host:port or *.domain`);
    // IPv6 literals in the form URL parsing gives them (`::ffff:127.0.0.1` is `::ffff:7f00:1`), to compare equal.
    const canonical = isIP(host!) === 6 ? new URL(`https://[${host}]/`).hostname.replace(/^\[|\]$/g, '') : host!;
    rules.push({ host: canonical, ...(p !== undefined ? { port: p } : {}) });
  }
  if (rules.length === 0) throw new Error('names no host');
  return rules;
}

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
    PIN_EXPECTED_ISSUER: z.string().min(1).default(DEFAULT_EXPECTED_ISSUER),
    PIN_MIN_REMAINING: duration.default(DEFAULT_MIN_REMAINING),
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
    PAYLOAD_CODEC_KEY_FILE: z.string().min(1).optional(),
    PAYLOAD_CODEC_KEY_ID: z.string().min(1).max(64).optional(),
    /** Migration switch: accept unencrypted payloads although a key is set (history from before the codec). */
    PAYLOAD_CODEC_ALLOW_PLAINTEXT: flag,
    /** Migration switch: decode ciphertext written before it was bound to its key id (no AAD). */
    PAYLOAD_CODEC_ALLOW_UNBOUND: flag,
    // What a workflow input may make the worker read (issue 13): nothing unless configured.
    /** Directories (PATH-style list) that `file:` certificate sources may name. */
    CERT_SOURCE_DIRS: z.string().optional(),
    /** Hosts (comma-separated `host[:port]`, `*.domain`) that `https://` certificate sources may name. */
    CERT_SOURCE_HOSTS: z.string().optional(),
    /** Lets `https://` sources resolve to loopback/private/link-local addresses (a PKI manager on the LAN, tests). */
    CERT_SOURCE_ALLOW_PRIVATE_NETWORKS: flag,
    /** CA bundle (PEM file) that `https://` sources' server certificates must chain to; the public roots otherwise. */
    CERT_SOURCE_CA_FILE: z.string().min(1).optional(),
    CERT_SOURCE_TIMEOUT_MS: z.coerce.number().int().min(500).max(120_000).default(20_000),
    /** Directories (PATH-style list) the mTLS probe's private keys may be read from. */
    PROBE_KEY_DIR: z.string().optional(),
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
  /** What certificate sources may reach (the emulator CA is added by buildDeps when configured). */
  certSources: Pick<CertSourceDeps, 'allowedDirs' | 'https'>;
  /** Canonical directories probe keys may be read from; empty: probes with keys are refused. */
  probeKeyDirs: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid worker configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Secrets that may also come from a file named by `<NAME>_FILE` (Docker and Kubernetes secrets), never from argv. */
export const FILE_SECRETS = ['GENESYS_CLIENT_SECRET', 'PKI_WEBHOOK_TOKEN', 'PKI_WEBHOOK_SECRET', 'EMULATOR_ADMIN_TOKEN'] as const;
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** Fills each secret from its `_FILE` when the variable itself is unset; problems name the `_FILE` variable. */
export function withFileSecrets(source: Record<string, string | undefined>): { values: Record<string, string | undefined>; problems: string[] } {
  const values = { ...source };
  const problems: string[] = [];
  for (const name of FILE_SECRETS) {
    const file = source[`${name}_FILE`];
    if (!file) continue;
    if (source[name]) {
      problems.push(`${name}_FILE: set ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      if (!statSync(file).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
      const text = readFileSync(file, 'utf8');
      if (text.length > MAX_SECRET_FILE_BYTES) throw Object.assign(new Error('too large'), { code: 'too large' });
      values[name] = text.replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  return { values, problems };
}

/** zod's default texts ("Invalid input: expected string, received undefined") say what the schema saw, not what to do. */
function issueText(issue: { code: string; message: string; path: PropertyKey[] }): string {
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    const name = String(issue.path[0] ?? '');
    return (FILE_SECRETS as readonly string[]).includes(name) ? `not set (set ${name} or ${name}_FILE)` : 'not set (required)';
  }
  return issue.message;
}

export function loadWorkerConfig(raw: Record<string, string | undefined>): WorkerConfig {
  const { values: source, problems: fileProblems } = withFileSecrets(raw);
  const parsed = workerEnvSchema.safeParse(source);
  if (!parsed.success || fileProblems.length > 0) {
    const issues = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${issueText(i)}`);
    throw new ConfigError([...fileProblems, ...issues.filter((i) => !fileProblems.some((f) => f.startsWith(`${i.split(':')[0]}_FILE:`)))]);
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
    codec = codecFromEnv({
      PAYLOAD_CODEC_KEY: env.PAYLOAD_CODEC_KEY,
      PAYLOAD_CODEC_KEY_FILE: env.PAYLOAD_CODEC_KEY_FILE,
      PAYLOAD_CODEC_KEY_ID: env.PAYLOAD_CODEC_KEY_ID,
      PAYLOAD_CODEC_ALLOW_PLAINTEXT: env.PAYLOAD_CODEC_ALLOW_PLAINTEXT ? '1' : '0',
      PAYLOAD_CODEC_ALLOW_UNBOUND: env.PAYLOAD_CODEC_ALLOW_UNBOUND ? '1' : '0',
    });
  } catch (err) {
    throw new ConfigError([`PAYLOAD_CODEC_KEY: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const problems: string[] = [];
  const attempt = <T>(name: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      problems.push(`${name}: ${err instanceof ConfigError ? err.problems.join('; ') : err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };
  const certDirs = env.CERT_SOURCE_DIRS !== undefined ? attempt('CERT_SOURCE_DIRS', () => canonicalDirs(env.CERT_SOURCE_DIRS!)) : [];
  const hosts = env.CERT_SOURCE_HOSTS !== undefined ? attempt('CERT_SOURCE_HOSTS', () => parseHostRules(env.CERT_SOURCE_HOSTS!)) : undefined;
  const sourceCa = env.CERT_SOURCE_CA_FILE ? attempt('CERT_SOURCE_CA_FILE', () => readPem('CERT_SOURCE_CA_FILE', env.CERT_SOURCE_CA_FILE!)) : undefined;
  if (env.CERT_SOURCE_CA_FILE && !env.CERT_SOURCE_HOSTS) problems.push('CERT_SOURCE_CA_FILE: set CERT_SOURCE_HOSTS too (it only applies to https:// sources)');
  const probeKeyDirs = env.PROBE_KEY_DIR !== undefined ? attempt('PROBE_KEY_DIR', () => canonicalDirs(env.PROBE_KEY_DIR!)) : [];
  const trustPem = attempt('PIN_TRUST_BUNDLE', () => readPem('PIN_TRUST_BUNDLE', env.PIN_TRUST_BUNDLE));
  const mtlsCaPem = env.GENESYS_MTLS_CA_FILE ? attempt('GENESYS_MTLS_CA_FILE', () => readPem('GENESYS_MTLS_CA_FILE', env.GENESYS_MTLS_CA_FILE!)) : undefined;
  if (problems.length > 0) throw new ConfigError(problems.map((p) => p.replace(/^(\w+): \1: /, '$1: ')));
  return {
    env,
    temporal,
    codec,
    trustPem: trustPem!,
    mtlsCaPem,
    minRemainingMs: parseDuration(env.PIN_MIN_REMAINING),
    approvers: env.APPROVER_KEYS ? approverKeysFrom(env.APPROVER_KEYS) : [],
    identityMap: env.CERT_IDENTITY_MAP ? identityMapFrom(env.CERT_IDENTITY_MAP) : {},
    certSources: {
      allowedDirs: certDirs ?? [],
      ...(hosts
        ? {
            https: {
              allowedHosts: hosts,
              allowPrivateNetworks: env.CERT_SOURCE_ALLOW_PRIVATE_NETWORKS,
              ...(sourceCa ? { caPem: sourceCa } : {}),
              totalTimeoutMs: env.CERT_SOURCE_TIMEOUT_MS,
            },
          }
        : {}),
    },
    probeKeyDirs: probeKeyDirs ?? [],
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

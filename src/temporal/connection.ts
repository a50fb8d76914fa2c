import { connect as netConnect } from 'node:net';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import type { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../contract/search-attributes';

/**
 * How to reach Temporal, following the `@temporalio/envconfig` conventions shared by every Temporal SDK and the
 * CLI: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH,
 * TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_PROFILE and
 * the TOML profile file (TEMPORAL_CONFIG_FILE). Without any of them: the local dev server.
 */
export interface TemporalTarget {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

export function temporalTargetFrom(env: Record<string, string | undefined>, overrides: { address?: string; namespace?: string } = {}): TemporalTarget {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') vars[k] = v;
  const loaded = loadClientConnectConfig({ overrideEnvVars: vars, profile: vars.TEMPORAL_PROFILE });
  const connectionOptions: NativeConnectionOptions = { ...loaded.connectionOptions };
  connectionOptions.address = overrides.address ?? connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS;
  return { connectionOptions, namespace: overrides.namespace ?? loaded.namespace ?? 'default' };
}

/** Temporal's frontend did not answer: the message names the address and why (refused, unknown host, timeout). */
export class TemporalUnreachableError extends Error {
  constructor(
    readonly address: string,
    readonly reason: string,
  ) {
    super(`cannot reach Temporal at ${address} (${reason})`);
    this.name = 'TemporalUnreachableError';
  }
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

/**
 * Opens (and closes) a TCP connection to HOST:PORT, so a wrong address fails in milliseconds with the reason,
 * instead of after the gRPC client's connect deadline with "Failed to connect before the deadline".
 * Resolves undefined when reachable, else the reason.
 */
export async function probeAddress(address: string, timeoutMs = 3000): Promise<string | undefined> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address.replace(/^[a-z]+:\/\//i, ''));
  if (!m) return 'not HOST:PORT';
  const [, host, port] = m;
  return new Promise((resolve) => {
    const socket = netConnect({ host, port: Number(port) });
    const done = (reason: string | undefined): void => {
      socket.destroy();
      clearTimeout(timer);
      resolve(reason);
    };
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(REASONS[err.code ?? ''] ?? err.code ?? err.message));
  });
}

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (the proto package is not a direct dependency). */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

/**
 * Registers the rotation's custom search attributes on `namespace` when they are missing (an existing cluster; the
 * dev server gets them as start flags). Returns the names it added.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  const present = new Set([...Object.keys(listed.customAttributes ?? {}), ...Object.keys(listed.systemAttributes ?? {})]);
  const missing = Object.keys(SEARCH_ATTRIBUTES).filter((name) => !present.has(name));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((name) => [name, INDEXED_VALUE_TYPE_KEYWORD])),
  });
  return missing;
}

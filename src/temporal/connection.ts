import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

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

import { IllegalStateError } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/**
 * Installs the process-wide Temporal runtime once: the SDK's own log level, and Prometheus metrics on
 * `metricsPort` when given (Temporal's worker metrics at `/metrics`). Must run before the first worker or
 * native connection of the process.
 */
export function installRuntime(opts: { metricsPort?: number; metricsHost?: string; logLevel?: LogLevel } = {}): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({
    logger: new DefaultLogger(opts.logLevel ?? 'WARN'),
    ...(opts.metricsPort
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `${opts.metricsHost ?? '127.0.0.1'}:${opts.metricsPort}` } } } }
      : {}),
    });
  } catch (err) {
    // Someone (e.g. a test environment) already created the runtime: keep theirs rather than fail.
    if (!(err instanceof IllegalStateError)) throw err;
  }
}

/** Maps the pino level of LOG_LEVEL onto the SDK's levels. */
export function sdkLogLevel(level: string): LogLevel {
  switch (level) {
    case 'trace':
      return 'TRACE';
    case 'debug':
      return 'DEBUG';
    case 'info':
      return 'INFO';
    case 'error':
    case 'fatal':
    case 'silent':
      return 'ERROR';
    default:
      return 'WARN';
  }
}

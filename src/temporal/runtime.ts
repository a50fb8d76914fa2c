import { IllegalStateError, type LogLevel, type LogMetadata, type Logger } from '@temporalio/common';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type pino from 'pino';

let installed = false;

/** Routes the SDK's own logs (worker state, activity and workflow failures) into pino as JSON lines. */
const EXPECTED_NO_WORKFLOWS = 'No workflows registered, not polling for workflow tasks';

export class PinoSdkLogger implements Logger {
  constructor(private readonly pinoLogger: pino.Logger) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const fields = { ...(meta ?? {}) } as Record<string, unknown>;
    // Failures carry the activity's error; keep its type and message, not whole objects.
    if (fields.error instanceof Error) fields.error = { name: fields.error.name, message: fields.error.message };
    let target = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' }[level] as pino.Level;
    // The platform queue's worker runs activities only, by design: that is not worth an operator's attention.
    if (message === EXPECTED_NO_WORKFLOWS) target = 'debug';
    this.pinoLogger[target](fields, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

export interface RuntimeOptions {
  /** Loopback port for the Temporal runtime's own Prometheus exporter (served again by the metrics server). */
  runtimeMetricsPort?: number;
  logLevel?: LogLevel;
  logger?: pino.Logger;
}

/**
 * Installs the process-wide Temporal runtime once. Must run before the first worker or native connection of
 * the process; when something else (a test environment) created the runtime already, theirs is kept.
 */
export function installRuntime(opts: RuntimeOptions = {}): void {
  if (installed) return;
  installed = true;
  const level = opts.logLevel ?? 'WARN';
  try {
    Runtime.install({
      logger: opts.logger ? new PinoSdkLogger(opts.logger.child({ component: 'temporal-sdk' }, { level: level.toLowerCase() })) : new DefaultLogger(level),
      ...(opts.runtimeMetricsPort ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${opts.runtimeMetricsPort}` } } } } : {}),
    });
  } catch (err) {
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

import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad flags or arguments: exit code 2, never a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function intOption(value: string | undefined, name: string, fallback: number, min = 0, max = 65535): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be an integer (got "${value}")`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}`);
  return n;
}

/** Flags override the environment; the environment (TEMPORAL_ADDRESS, TLS, API key, profile) is read by envconfig. */
export function temporalTarget(values: { address?: string; namespace?: string; 'task-queue'?: string }) {
  return {
    address: values.address,
    namespace: values.namespace,
    taskQueue: values['task-queue'] ?? process.env.TEMPORAL_TASK_QUEUE ?? 'pin-rotation',
  };
}

export const temporalOptions = {
  address: { type: 'string' },
  namespace: { type: 'string' },
  'task-queue': { type: 'string' },
} as const;

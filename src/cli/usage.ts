import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

const TEMPORAL_FLAGS = `  --address HOST:PORT     Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
  --namespace NS          (default $TEMPORAL_NAMESPACE or default)
  --task-queue Q          (default $TEMPORAL_TASK_QUEUE or pin-rotation)`;

/**
 * Help for commands whose module does not answer `--help` itself (the operator actions of commands/signal.ts).
 * main.ts prints it; it lists exactly the flags that module parses.
 */
export const COMMAND_HELP: Record<string, string> = {
  approve: `usage: pinrotate approve --client ID --key FILE --approver ID [--json]

Approves the rotation of client ID that waits for approval (started with \`rotate --approve-required\`).
Check what is approved first: \`pinrotate status --client ID\`. The approval is signed here with your Ed25519
private key over the run, its planned pins and its requester; the worker verifies it against APPROVER_KEYS
and refuses it (exit 1, nothing recorded) when it does not verify, is stale, or you requested the rotation.

  --client ID             the client whose rotation to approve (required)
  --key FILE              your Ed25519 private key, PEM (read here; it never leaves this process)
  --approver ID           your id in the worker's APPROVER_KEYS
  --json                  print {"clientId","action","accepted"} (and "reason"/"error" when refused)
${TEMPORAL_FLAGS}

Exit codes: 0 accepted, 1 no running rotation or refused, 2 usage.
`,
  rollback: `usage: pinrotate rollback --client ID [--reason TEXT] [--json]

Ends the rotation of client ID with a restore: the pre-rotation chain and pins go back on the platform, the
PKI manager gets \`rotation_rolled_back\`, and the outcome is rolled_back. Before Apply nothing is changed.

  --client ID             the client whose rotation to roll back (required)
  --reason TEXT           why, for the status and the audit record (default "rollback requested from the CLI")
  --json                  print {"clientId","signal","sent"} (and "error" when not sent)
${TEMPORAL_FLAGS}

Exit codes: 0 sent, 1 no running rotation or refused, 2 usage.
`,
  finalize: `usage: pinrotate finalize --client ID [--force] [--reason TEXT] [--json]

Ends the overlap window of client ID's rotation now: the fallback pin (the old certificate) is dropped and the
rotation finalizes. Integration clients still presenting the old certificate are refused from then on;
\`pinrotate status --client ID\` shows whether any still do.

  --client ID             the client whose rotation to finalize (required)
  --force                 finalize although the gateway's telemetry shows the old certificate still in use
                          (within drainQuiet); without it such a finalize is refused with the reason
  --reason TEXT           why the overlap is cut short
  --json                  print {"clientId","signal","sent"} (and "error" when not sent)
${TEMPORAL_FLAGS}

Exit codes: 0 sent, 1 no running rotation or refused, 2 usage.
`,
};

/** True when argv asks for help: `--help` or `-h` anywhere before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The version of the installed package, read from its package.json (found from the compiled file upwards). */
export function packageVersion(): string {
  let dir = __dirname;
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'genesys-pin-rotation' && pkg.version) return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json of genesys-pin-rotation not found above ${__dirname}`);
    dir = parent;
  }
}

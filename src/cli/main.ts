import { COMMAND_HELP, packageVersion, UsageError, wantsHelp } from './usage';

/** `pinrotate <command> …`: each command lives in its own module and returns its exit code. */

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  demo: { summary: 'start everything on embedded defaults, rotate one client, print the result', load: () => import('./commands/demo') },
  cluster: { summary: 'run a Temporal cluster on PostgreSQL without Docker: start --data-dir DIR [--port 7233]', load: () => import('./commands/cluster') },
  dev: { summary: 'run the Temporal dev server (UI on), the platform emulator and a worker until interrupted', load: () => import('./commands/dev') },
  emulator: { summary: 'run the platform emulator (architecture gateway + PKI receiver) alone', load: () => import('./commands/emulator') },
  worker: { summary: 'run a worker from environment configuration (--env-file FILE)', load: () => import('./commands/worker') },
  rotate: { summary: 'start a rotation: --client ID --cert FILE [--overlap 7d] [--wait] [--json]', load: () => import('./commands/rotate') },
  status: { summary: 'show where a rotation stands: --client ID [--json]', load: () => import('./commands/status') },
  approve: { summary: 'approve a rotation waiting for approval: --client ID', load: () => import('./commands/signal').then((m) => ({ run: m.approve })) },
  rollback: { summary: 'roll a rotation back to the previous pins: --client ID [--reason TEXT]', load: () => import('./commands/signal').then((m) => ({ run: m.rollback })) },
  finalize: { summary: 'end the overlap window now and finalize: --client ID', load: () => import('./commands/signal').then((m) => ({ run: m.finalize })) },
  terminate: { summary: 'terminate a rotation that cannot make progress, with an audit record: --client ID --reason TEXT', load: () => import('./commands/terminate') },
  schedule: { summary: 'Temporal Schedules of rotations: create|list|describe|pause|unpause|trigger|delete', load: () => import('./commands/schedule') },
  fleet: { summary: 'rotate many clients with bounded concurrency: [--clients FILE|--all] --concurrency N [--wait]', load: () => import('./commands/fleet') },
  'codec-server': { summary: 'serve the payload codec (PAYLOAD_CODEC_KEY) to the Temporal UI: [--port 8081]', load: () => import('./commands/codec-server') },
  pins: { summary: 'print the SHA-256 pins of the certificates in a PEM file: FILE [--json]', load: () => import('./commands/pins') },
  validate: { summary: 'validate a certificate chain for pinning: FILE --trust CA.pem [--json]', load: () => import('./commands/validate') },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: pinrotate <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'Run `pinrotate help <command>` or `pinrotate <command> --help` for a command\'s options;',
    '`pinrotate --version` prints the version.',
    '',
  ].join('\n');
}

function unknown(name: string): number {
  process.stderr.write(`pinrotate: unknown command "${name}"\n\n${usage()}`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    process.stderr.write(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || (name === 'help' && (rest.length === 0 || rest[0] === 'help'))) {
    process.stdout.write(usage());
    return 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`pinrotate ${packageVersion()}\n`);
    return 0;
  }
  // `help <command> [sub…]` is `<command> [sub…] --help`.
  if (name === 'help') return COMMANDS[rest[0]] ? dispatch(rest[0], [...rest.slice(1), '--help']) : unknown(rest[0]);
  return COMMANDS[name] ? dispatch(name, rest) : unknown(name);
}

async function dispatch(name: string, rest: string[]): Promise<number> {
  const fallbackHelp = COMMAND_HELP[name];
  if (fallbackHelp && wantsHelp(rest)) {
    process.stdout.write(fallbackHelp);
    return 0;
  }
  try {
    const mod = await COMMANDS[name].load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pinrotate ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

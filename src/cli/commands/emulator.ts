import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { startEmulator } from '../../emulator';
import { intOption, parse, UsageError } from '../usage';

const HELP = `usage: pinrotate emulator [options]

Runs the platform emulator alone: the architecture gateway (login, GET/PATCH /api/v2/oauth/clients/{id},
GET /api/v2/oauth/clients/{id}/handshakes), the PKI webhook receiver (POST /pki/webhook), the control plane
(/__admin/*, loopback + X-Admin-Token) and the mTLS check endpoint. State is in memory unless --data-dir is
given; Ctrl-C stops it.

  --host H          listen address (default 127.0.0.1)
  --port N          HTTP port (default 8787, or the one saved in --data-dir; 0 = random)
  --mtls-port N     mTLS check endpoint port (default 8788, or the one saved in --data-dir; 0 = random)
  --rate-limit N    requests per minute per access token (default 300; 0 = unlimited)
  --data-dir DIR    keep the CA, clients, admin token and PKI secrets in DIR (0700; files 0600), so a
                    restart resumes with the same CA, clients and tokens
  --json            print the connection details as one JSON line

Secrets come from the environment or from files, never from the command line (argv is visible to every
user of the machine):
  EMULATOR_ADMIN_TOKEN or EMULATOR_ADMIN_TOKEN_FILE   control-plane token
  PKI_WEBHOOK_TOKEN    or PKI_WEBHOOK_TOKEN_FILE      Bearer token the PKI receiver expects
  PKI_WEBHOOK_SECRET   or PKI_WEBHOOK_SECRET_FILE     HMAC secret the PKI receiver expects
Unset, they are the ones saved in --data-dir, else random (printed at start).
LOG_LEVEL (default info) sets the log level of the JSON logs written to stderr.
`;

/** A secret file is read whole but small, without following a FIFO or device into a hang. */
const SECRET_FILE_MAX = 4096;

/** Thrown for a secret variable or file that cannot be used: exit 2 with the variable and file named. */
function readSecret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) throw new UsageError(`set ${name} or ${name}_FILE, not both`);
  if (direct !== undefined) {
    if (direct.trim() === '') throw new UsageError(`${name} is set but empty`);
    return direct;
  }
  if (file === undefined) return undefined;
  const path = resolve(file);
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new UsageError(`${name}_FILE ${path} cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'}; symbolic links are not followed)`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UsageError(`${name}_FILE ${path} is not a regular file`);
    if (stat.size > SECRET_FILE_MAX) throw new UsageError(`${name}_FILE ${path} is larger than ${SECRET_FILE_MAX} bytes`);
    const buf = Buffer.alloc(SECRET_FILE_MAX);
    const n = readSync(fd, buf, 0, SECRET_FILE_MAX, 0);
    const value = buf.subarray(0, n).toString('utf8').replace(/\r?\n$/, '');
    if (value.trim() === '') throw new UsageError(`${name}_FILE ${path} is empty`);
    return value;
  } finally {
    closeSync(fd);
  }
}

export interface RunIo {
  stdout?: { write(chunk: string): unknown };
  stderr?: { write(chunk: string): unknown };
  /** Stops the emulator like SIGINT/SIGTERM would (tests). */
  stop?: AbortSignal;
  /** Where secrets are read from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  let options;
  try {
    const { values } = parse(argv, {
      host: { type: 'string' },
      port: { type: 'string' },
      'mtls-port': { type: 'string' },
      'rate-limit': { type: 'string' },
      'data-dir': { type: 'string' },
      // Kept only to refuse them with a pointer to the right place.
      'pki-token': { type: 'string' },
      'pki-secret': { type: 'string' },
      'admin-token': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      stdout.write(HELP);
      return 0;
    }
    for (const [flag, variable] of [['pki-token', 'PKI_WEBHOOK_TOKEN'], ['pki-secret', 'PKI_WEBHOOK_SECRET'], ['admin-token', 'EMULATOR_ADMIN_TOKEN']] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} is not accepted: a secret on the command line is visible in the process list; set ${variable} or ${variable}_FILE instead`);
      }
    }
    if (values['data-dir'] === '') throw new UsageError('--data-dir must not be empty');
    const dataDir = values['data-dir'] ? resolve(values['data-dir']) : undefined;
    options = {
      host: values.host ?? '127.0.0.1',
      // With a data directory, the saved ports are the default (undefined lets startEmulator use them).
      port: values.port !== undefined || !dataDir ? intOption(values.port, 'port', 8787) : undefined,
      mtlsPort: values['mtls-port'] !== undefined || !dataDir ? intOption(values['mtls-port'], 'mtls-port', 8788) : undefined,
      rateLimitPerMinute: intOption(values['rate-limit'], 'rate-limit', 300, 0, 1_000_000_000),
      adminToken: readSecret(env, 'EMULATOR_ADMIN_TOKEN'),
      pkiToken: readSecret(env, 'PKI_WEBHOOK_TOKEN'),
      pkiSecret: readSecret(env, 'PKI_WEBHOOK_SECRET'),
      dataDir,
      defaultPorts: { port: 8787, mtlsPort: 8788 },
      json: Boolean(values.json),
    };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    stderr.write(`pinrotate emulator: ${err.message}\n\n${HELP}`);
    return 2;
  }

  const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  let emulator;
  try {
    emulator = await startEmulator({ ...options, logger });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined && err instanceof Error && options.dataDir) {
      // A data directory that cannot be used: name it, never a stack trace.
      stderr.write(`pinrotate emulator: --data-dir ${options.dataDir}: ${err.message}\n`);
      return 1;
    }
    if (code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL' && code !== 'EACCES') {
      if (options.dataDir && code) {
        stderr.write(`pinrotate emulator: --data-dir ${options.dataDir}: ${code}\n`);
        return 1;
      }
      throw err;
    }
    stderr.write(`pinrotate emulator: cannot listen on ${options.host} (port ${options.port ?? 'saved'}, mTLS port ${options.mtlsPort ?? 'saved'}): ${code}; pick other ports with --port/--mtls-port (0 = random)\n`);
    return 1;
  }
  // Printed on purpose (DESIGN.md §7): the operator needs the admin token for the control plane, and the
  // PKI token and secret to configure the worker's PKI_WEBHOOK_TOKEN / PKI_WEBHOOK_SECRET. The log never has them.
  const summary = {
    url: emulator.url,
    mtlsUrl: emulator.mtlsUrl,
    adminToken: emulator.adminToken,
    pkiWebhookUrl: emulator.pkiWebhookUrl,
    pkiToken: emulator.pkiToken,
    pkiSecret: emulator.pkiSecret,
    caCertificatePem: emulator.caCertificatePem,
    ...(emulator.dataDir ? { dataDir: emulator.dataDir } : {}),
  };
  if (options.json) {
    stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    stdout.write(
      [
        'pinrotate emulator is up:',
        `  gateway + login   ${summary.url}  (GENESYS_GATEWAY_URL)`,
        `  mTLS check        ${summary.mtlsUrl}/mtls/{clientId}  (GENESYS_MTLS_URL)`,
        `  control plane     ${summary.url}/__admin  (header X-Admin-Token: ${summary.adminToken})`,
        `  PKI webhook       ${summary.pkiWebhookUrl}`,
        `  PKI token         ${summary.pkiToken}  (PKI_WEBHOOK_TOKEN)`,
        `  PKI secret        ${summary.pkiSecret}  (PKI_WEBHOOK_SECRET)`,
        `  CA certificate    GET ${summary.url}/__admin/ca`,
        ...(summary.dataDir ? [`  data directory    ${summary.dataDir}`] : []),
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.stop?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (io.stop?.aborted) stop();
    else io.stop?.addEventListener('abort', stop);
  });
  await emulator.close();
  logger.flush();
  return 0;
}

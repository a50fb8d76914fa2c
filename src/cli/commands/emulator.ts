import pino from 'pino';
import { startEmulator } from '../../emulator';
import { intOption, parse, UsageError } from '../usage';

const HELP = `usage: pinrotate emulator [options]

Runs the platform emulator alone: the architecture gateway (login, GET/PATCH /api/v2/oauth/clients/{id}),
the PKI webhook receiver (POST /pki/webhook), the control plane (/__admin/*, loopback + X-Admin-Token) and
the mTLS check endpoint. All state is in memory; Ctrl-C stops it.

  --host H          listen address (default 127.0.0.1)
  --port N          HTTP port (default 8787; 0 = random)
  --mtls-port N     mTLS check endpoint port (default 8788; 0 = random)
  --rate-limit N    requests per minute per access token (default 300; 0 = unlimited)
  --pki-token T     Bearer token the PKI receiver expects (default random)
  --pki-secret S    HMAC secret the PKI receiver expects (default random)
  --json            print the connection details as one JSON line

EMULATOR_ADMIN_TOKEN, when set, is the control-plane token; otherwise a random one is printed.
LOG_LEVEL (default info) sets the log level of the JSON logs written to stderr.
`;

export interface RunIo {
  stdout?: { write(chunk: string): unknown };
  stderr?: { write(chunk: string): unknown };
  /** Stops the emulator like SIGINT/SIGTERM would (tests). */
  stop?: AbortSignal;
}

export async function run(argv: string[], io: RunIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let options;
  try {
    const { values } = parse(argv, {
      host: { type: 'string' },
      port: { type: 'string' },
      'mtls-port': { type: 'string' },
      'rate-limit': { type: 'string' },
      'pki-token': { type: 'string' },
      'pki-secret': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      stdout.write(HELP);
      return 0;
    }
    if (values['pki-token'] === '' || values['pki-secret'] === '') throw new UsageError('--pki-token and --pki-secret must not be empty');
    options = {
      host: values.host ?? '127.0.0.1',
      port: intOption(values.port, 'port', 8787),
      mtlsPort: intOption(values['mtls-port'], 'mtls-port', 8788),
      rateLimitPerMinute: intOption(values['rate-limit'], 'rate-limit', 300, 0, 1_000_000_000),
      pkiToken: values['pki-token'],
      pkiSecret: values['pki-secret'],
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
    if (code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL' && code !== 'EACCES') throw err;
    stderr.write(`pinrotate emulator: cannot listen on ${options.host} (port ${options.port}, mTLS port ${options.mtlsPort}): ${code}; pick other ports with --port/--mtls-port (0 = random)\n`);
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

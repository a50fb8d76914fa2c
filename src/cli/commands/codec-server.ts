import { readFileSync } from 'node:fs';
import { codecFromEnv } from '../../codec/aes-gcm';
import { startCodecServer } from '../../codec/server';
import { intOption, parse, UsageError } from '../usage';

const HELP = `usage: pinrotate codec-server [--port 8081] [--host 127.0.0.1] [--ui-origin http://127.0.0.1:8233]
                             [--allowed-hosts NAME,NAME]

Serves Temporal's remote codec protocol so the Temporal UI can show payloads that workers and clients encrypt
with PAYLOAD_CODEC_KEY (base64 of 32 bytes, or PAYLOAD_CODEC_KEY_FILE; PAYLOAD_CODEC_KEY_ID names it).

Every request needs the token from CODEC_SERVER_TOKEN (or the file CODEC_SERVER_TOKEN_FILE; at least 16
characters): header \`Authorization: Bearer TOKEN\`, or the endpoint http://127.0.0.1:8081/t/TOKEN, which is
what to enter in the Temporal UI's "Codec Server" setting (it stays in the browser, not in a process list).
Only the --ui-origin gets CORS answers; the Host header must be a loopback name (or --allowed-hosts, names
without port) so a DNS-rebinding page cannot reach it. Secrets are never read from flags.
`;

/** A secret from VAR or from the file VAR_FILE: never from argv, where every local user can read it. */
export function secretFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env[name]) return env[name];
  const file = env[`${name}_FILE`];
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    throw new UsageError(`${name}_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'ui-origin': { type: 'string' },
    'allowed-hosts': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let codec;
  try {
    codec = codecFromEnv(process.env);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (!codec) throw new UsageError('set PAYLOAD_CODEC_KEY or PAYLOAD_CODEC_KEY_FILE (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)');
  const token = secretFromEnv('CODEC_SERVER_TOKEN');
  if (!token || token.length < 16) throw new UsageError('set CODEC_SERVER_TOKEN or CODEC_SERVER_TOKEN_FILE (at least 16 characters, e.g. `openssl rand -hex 24`)');
  const port = intOption(values.port, 'port', 8081);
  const allowedHosts = values['allowed-hosts']?.split(',').map((h) => h.trim()).filter(Boolean);
  const server = await startCodecServer({ codec, port, token, host: values.host, uiOrigin: values['ui-origin'] ?? 'http://127.0.0.1:8233', allowedHosts });
  process.stdout.write(`codec server on http://${values.host ?? '127.0.0.1'}:${port} (POST /encode, /decode; bearer token required); Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await new Promise((r) => server.close(r));
  return 0;
}

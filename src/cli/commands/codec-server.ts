import { codecFromEnv } from '../../codec/aes-gcm';
import { startCodecServer } from '../../codec/server';
import { intOption, parse, UsageError } from '../usage';

const HELP = `usage: pinrotate codec-server [--port 8081] [--host 127.0.0.1] [--ui-origin http://127.0.0.1:8233]

Serves Temporal's remote codec protocol so the Temporal UI can show payloads that workers and clients encrypt
with PAYLOAD_CODEC_KEY (base64 of 32 bytes; PAYLOAD_CODEC_KEY_ID names it). Point the UI at it with
\`temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081\` or the UI's "Codec Server" setting.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { port: { type: 'string' }, host: { type: 'string' }, 'ui-origin': { type: 'string' }, help: { type: 'boolean', short: 'h' } });
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
  if (!codec) throw new UsageError('set PAYLOAD_CODEC_KEY (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)');
  const port = intOption(values.port, 'port', 8081);
  const server = await startCodecServer({ codec, port, host: values.host, uiOrigin: values['ui-origin'] ?? 'http://127.0.0.1:8233' });
  process.stdout.write(`codec server on http://${values.host ?? '127.0.0.1'}:${port} (POST /encode, /decode); Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await new Promise((r) => server.close(r));
  return 0;
}

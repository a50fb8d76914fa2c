import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * Temporal's remote codec protocol (`POST /encode`, `POST /decode` with `{"payloads":[…]}`, bytes as base64), so
 * the Temporal UI (`--ui-codec-endpoint`) shows decrypted payloads to operators who can reach it. Loopback by
 * default; CORS allows only the configured UI origin.
 */

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY = 4 * 1024 * 1024;

function fromJson(p: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v, 'base64');
  return { metadata, data: Buffer.from(p.data ?? '', 'base64') };
}

function toJson(p: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startCodecServer(opts: { codec: PayloadCodec; port: number; host?: string; uiOrigin?: string }): Promise<Server> {
  const server = createServer((req, res) => {
    const cors: Record<string, string> = opts.uiOrigin
      ? {
          'access-control-allow-origin': opts.uiOrigin,
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'content-type, x-namespace, authorization',
          'access-control-allow-credentials': 'true',
        }
      : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'POST' || (path !== '/encode' && path !== '/decode')) {
      res.writeHead(404, { 'content-type': 'application/json', ...cors }).end('{"message":"POST /encode or /decode"}');
      return;
    }
    void (async () => {
      try {
        const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
        if (!Array.isArray(body.payloads)) throw Object.assign(new Error('expected {"payloads":[…]}'), { status: 400 });
        const payloads = body.payloads.map(fromJson);
        const out = path === '/encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
        res.writeHead(200, { 'content-type': 'application/json', ...cors }).end(JSON.stringify({ payloads: out.map(toJson) }));
      } catch (err) {
        const status = (err as { status?: number }).status ?? 400;
        // The message says what is wrong with the request; it never echoes payload content.
        res.writeHead(status, { 'content-type': 'application/json', ...cors }).end(JSON.stringify({ message: err instanceof SyntaxError ? 'body is not JSON' : (err as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  return server;
}

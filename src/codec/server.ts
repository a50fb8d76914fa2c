import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * Temporal's remote codec protocol (`POST /encode`, `POST /decode` with `{"payloads":[…]}`, bytes as base64), so
 * the Temporal UI (`--ui-codec-endpoint`) shows decrypted payloads to operators who can reach it.
 *
 * It is a decryption oracle for whoever can call it, so: a bearer token (header `Authorization: Bearer T`, or the
 * endpoint `http://HOST:PORT/t/T` for the UI's codec setting, which cannot add headers); the `Host` header must be
 * one of the names the server is meant to be reached by (a DNS-rebinding page arrives with its own name); CORS
 * answers only the configured UI origin; requests must be `application/json` (no simple cross-site POST).
 */

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY = 4 * 1024 * 1024;

export interface CodecServerOptions {
  codec: PayloadCodec;
  port: number;
  /** Bind address; loopback by default. */
  host?: string;
  /** The Temporal UI's origin (scheme://host:port): the only origin CORS answers. */
  uiOrigin?: string;
  /** Required on every encode/decode (CODEC_SERVER_TOKEN or CODEC_SERVER_TOKEN_FILE). */
  token: string;
  /** Host names (without port) the server answers to; loopback names by default. The bound port is added. */
  allowedHosts?: string[];
}

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

/** Constant-time comparison of two secrets of any length. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

export async function startCodecServer(opts: CodecServerOptions): Promise<Server> {
  if (!opts.token || opts.token.length < 16) throw new Error('the codec server needs a token of at least 16 characters');
  let allowedHostHeaders = new Set<string>();
  const server = createServer((req, res) => {
    const json = (status: number, body: unknown, extra: Record<string, string> = {}) => res.writeHead(status, { 'content-type': 'application/json', ...extra }).end(JSON.stringify(body));
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 still sends `Host: evil.example:PORT`.
    if (!allowedHostHeaders.has(String(req.headers.host ?? '').toLowerCase())) return json(421, { message: 'unexpected Host' });
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== opts.uiOrigin) return json(403, { message: 'origin not allowed' });
    const cors: Record<string, string> = origin
      ? {
          'access-control-allow-origin': origin,
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'content-type, x-namespace, authorization',
          'access-control-allow-credentials': 'true',
          vary: 'origin',
        }
      : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    let path = (req.url ?? '/').split('?')[0];
    let given: string | undefined;
    const inPath = /^\/t\/([^/]+)(\/.*)$/.exec(path);
    if (inPath) {
      given = decodeURIComponent(inPath[1]);
      path = inPath[2];
    } else {
      const auth = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''));
      given = auth?.[1];
    }
    if (given === undefined || !sameSecret(given, opts.token)) return json(401, { message: 'a valid bearer token is required' }, { ...cors, 'www-authenticate': 'Bearer' });
    if (req.method !== 'POST' || (path !== '/encode' && path !== '/decode')) return json(404, { message: 'POST /encode or /decode' }, cors);
    if (!/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) return json(415, { message: 'content-type must be application/json' }, cors);
    void (async () => {
      try {
        const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
        if (!Array.isArray(body.payloads)) throw Object.assign(new Error('expected {"payloads":[…]}'), { status: 400 });
        const payloads = body.payloads.map(fromJson);
        const out = path === '/encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
        json(200, { payloads: out.map(toJson) }, cors);
      } catch (err) {
        const status = (err as { status?: number }).status ?? 400;
        // The message says what is wrong with the request; it never echoes payload content.
        json(status, { message: err instanceof SyntaxError ? 'body is not JSON' : (err as Error).message }, cors);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const names = opts.allowedHosts ?? ['127.0.0.1', 'localhost', '[::1]', ...(opts.host && !['127.0.0.1', '::1', 'localhost'].includes(opts.host) ? [opts.host] : [])];
  allowedHostHeaders = new Set(names.map((n) => `${n.toLowerCase()}:${port}`));
  return server;
}

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import { EmulatorCa } from './ca';
import { handleControlPlane } from './control-plane';
import { FaultQueue, faultablePath } from './faults';
import { handleGateway } from './gateway';
import { errorBody, HttpError, pathOf, sendError, type RequestContext } from './http-util';
import { handleMtls } from './mtls';
import { Platform } from './platform';
import { RateLimiter } from './rate-limit';
import { StatsRecorder } from './stats';
import { WebhookReceiver } from './webhook-receiver';

export interface EmulatorOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** API, login, PKI receiver and control plane; default 0 = random. */
  port?: number;
  /** The mTLS check listener; default 0 = random. */
  mtlsPort?: number;
  /** Default process.env.EMULATOR_ADMIN_TOKEN, else random. */
  adminToken?: string;
  /** Per access token and fixed 60 s window; default 300; 0 = unlimited. */
  rateLimitPerMinute?: number;
  /** Default 86400. */
  tokenTtlSeconds?: number;
  /** Bearer token the PKI receiver expects; default random. */
  pkiToken?: string;
  /** HMAC secret the PKI receiver expects; default random. */
  pkiSecret?: string;
  logger?: pino.Logger;
  /** Clock for token expiry and rate-limit windows (tests); default Date.now. */
  now?: () => number;
}

export interface EmulatorHandle {
  /** http://HOST:PORT: API, login, PKI receiver and control plane share it. */
  url: string;
  host: string;
  port: number;
  mtlsPort: number;
  /** https://HOST:MTLSPORT */
  mtlsUrl: string;
  adminToken: string;
  /** `${url}/pki/webhook` */
  pkiWebhookUrl: string;
  pkiToken: string;
  pkiSecret: string;
  caCertificatePem: string;
  close(): Promise<void>;
}

function randomSecret(): string {
  return randomBytes(24).toString('base64url');
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`EmulatorOptions.${name} must be an integer from ${min} to ${max}; got ${value}.`);
  }
  return value;
}

/** Clients cannot connect to a wildcard address; URLs name loopback instead, and IPv6 needs brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Malformed HTTP still gets a Genesys-shaped 400 instead of a bare close. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(400, 'The request could not be parsed as HTTP.', randomUUID()));
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * Starts the platform emulator: the architecture gateway (DESIGN.md §2), the PKI webhook receiver (§3) and
 * the control plane (§7) on one HTTP port, and the mTLS check endpoint on an HTTPS port. All state is in memory.
 */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const host = opts.host ?? '127.0.0.1';
  const port = checkInteger('port', opts.port ?? 0, 0, 65_535);
  const mtlsPort = checkInteger('mtlsPort', opts.mtlsPort ?? 0, 0, 65_535);
  const rateLimitPerMinute = checkInteger('rateLimitPerMinute', opts.rateLimitPerMinute ?? 300, 0, 1_000_000_000);
  const tokenTtlSeconds = checkInteger('tokenTtlSeconds', opts.tokenTtlSeconds ?? 86_400, 1, 31_536_000);
  const adminToken = opts.adminToken || process.env.EMULATOR_ADMIN_TOKEN || randomSecret();
  const pkiToken = opts.pkiToken || randomSecret();
  const pkiSecret = opts.pkiSecret || randomSecret();
  const now = opts.now ?? Date.now;
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'emulator' });

  const ca = new EmulatorCa();
  const serverCert = ca.issueServerCert(host === '0.0.0.0' || host === '::' ? [] : [host]);
  const stats = new StatsRecorder();
  const timers = new Set<NodeJS.Timeout>();
  const platform = new Platform({ tokenTtlSeconds, now });
  const limiter = new RateLimiter(rateLimitPerMinute, now);
  const faults = new FaultQueue();
  const webhooks = new WebhookReceiver({ token: pkiToken, secret: pkiSecret, stats, timers });

  const route = async (ctx: RequestContext, surface: 'http' | 'mtls'): Promise<void> => {
    if (surface === 'mtls') return handleMtls(ctx, platform);
    if (ctx.path === '/__admin' || ctx.path.startsWith('/__admin/')) {
      return handleControlPlane(ctx, { adminToken, platform, ca, faults, webhooks, stats, limiter });
    }
    if (ctx.path === '/pki/webhook') return webhooks.handle(ctx);
    if (faultablePath(ctx.path)) return handleGateway(ctx, { platform, limiter, faults, stats, timers });
    throw new HttpError(404, `No route for ${ctx.method} ${ctx.path}.`);
  };

  /** Every request: a correlation id, a stats entry when it ends, and no exception ever escapes. */
  const dispatch = async (req: IncomingMessage, res: ServerResponse, surface: 'http' | 'mtls'): Promise<void> => {
    const correlationId = randomUUID();
    const ctx: RequestContext = { req, res, method: req.method ?? 'GET', path: pathOf(req), correlationId, log: log.child({ correlationId }) };
    const started = process.hrtime.bigint();
    res.setHeader('ININ-Correlation-Id', correlationId);
    let recorded = false;
    // 'finish' (answer handed to the socket) comes before the caller can read it, so stats are never behind;
    // 'close' alone covers resets and callers that went away.
    const record = (): void => {
      if (recorded) return;
      recorded = true;
      const status = res.headersSent ? res.statusCode : 0;
      if (!ctx.path.startsWith('/__admin')) stats.record(ctx.method, ctx.path, status);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.log.debug({ method: ctx.method, path: ctx.path, status, ms: Math.round(ms) }, 'request');
    };
    res.on('finish', record);
    res.on('close', record);
    try {
      await route(ctx, surface);
    } catch (err) {
      if (err instanceof HttpError) {
        sendError(res, err, correlationId);
      } else {
        ctx.log.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'unhandled error');
        sendError(res, new HttpError(500, 'The emulator failed to handle the request.'), correlationId);
      }
    }
    // Never leave a caller hanging: a half-written answer is cut, a forgotten one becomes a 500.
    if (res.headersSent && !res.writableEnded) res.destroy();
    else if (!res.headersSent && !req.socket.destroyed) {
      sendError(res, new HttpError(500, 'The emulator produced no answer for this request.'), correlationId);
    }
  };

  const httpServer = createHttpServer((req, res) => void dispatch(req, res, 'http'));
  const mtlsServer = createHttpsServer(
    { key: serverCert.privateKeyPem, cert: serverCert.certificatePem, ca: [ca.certificatePem], requestCert: true, rejectUnauthorized: false },
    (req, res) => void dispatch(req, res, 'mtls'),
  );
  for (const server of [httpServer, mtlsServer]) {
    server.on('clientError', answerClientError);
    server.on('error', (err) => log.error({ err: err.message }, 'server error'));
  }
  mtlsServer.on('tlsClientError', (err) => log.debug({ err: err.message }, 'tls handshake failed'));

  let boundPort: number;
  let boundMtlsPort: number;
  try {
    boundPort = await listen(httpServer, port, host);
    boundMtlsPort = await listen(mtlsServer, mtlsPort, host);
  } catch (err) {
    await Promise.all([closeServer(httpServer), closeServer(mtlsServer)]);
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([closeServer(httpServer), closeServer(mtlsServer)]);
      log.info('emulator stopped');
    })();
    return closing;
  };

  const url = `http://${urlHost(host)}:${boundPort}`;
  log.info({ url, mtlsPort: boundMtlsPort, rateLimitPerMinute }, 'emulator started');
  return {
    url,
    host,
    port: boundPort,
    mtlsPort: boundMtlsPort,
    mtlsUrl: `https://${urlHost(host)}:${boundMtlsPort}`,
    adminToken,
    pkiWebhookUrl: `${url}/pki/webhook`,
    pkiToken,
    pkiSecret,
    caCertificatePem: ca.certificatePem,
    close,
  };
}

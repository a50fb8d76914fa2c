import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import { EmulatorCa } from './ca';
import { handleControlPlane } from './control-plane';
import { FaultQueue, faultablePath } from './faults';
import { FieldClients } from './field-clients';
import { handleGateway } from './gateway';
import { errorBody, HttpError, pathOf, sendError, type RequestContext } from './http-util';
import { handleMtls } from './mtls';
import { EmulatorStore, type StoredState } from './persistence';
import { Platform } from './platform';
import { RateLimiter } from './rate-limit';
import { StatsRecorder } from './stats';
import { HandshakeTelemetry } from './telemetry';
import { WebhookReceiver } from './webhook-receiver';

export interface EmulatorOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /**
   * API, login, PKI receiver and control plane; default: the port saved in `dataDir` when there is one (random
   * if it is taken now), else 0 = random.
   */
  port?: number;
  /** The mTLS check listener; default like `port`. */
  mtlsPort?: number;
  /** Used when `port` / `mtlsPort` are unset and nothing is saved; default 0 (random). */
  defaultPorts?: { port: number; mtlsPort: number };
  /**
   * Keeps the CA (certificate and key), the clients with their versions, the admin token, the PKI token and
   * secret, the ports, the keys the CA issued and the processed webhook keys in `DIR/emulator-state.json` (0600,
   * directory 0700), so a restart resumes. Without it all state is in memory.
   */
  dataDir?: string;
  /** Headers and body of any request must arrive within this; default 10000 (headers alone: half of it). */
  requestTimeoutMs?: number;
  /** Default process.env.EMULATOR_ADMIN_TOKEN, else the one saved in `dataDir`, else random. */
  adminToken?: string;
  /** Per access token and fixed 60 s window; default 300; 0 = unlimited. */
  rateLimitPerMinute?: number;
  /** Default 86400. */
  tokenTtlSeconds?: number;
  /** Bearer token the PKI receiver expects; default the one saved in `dataDir`, else random. */
  pkiToken?: string;
  /** HMAC secret the PKI receiver expects; default the one saved in `dataDir`, else random. */
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
  /** The data directory in use, when persistence is on. */
  dataDir?: string;
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

/** A port remembered from the data directory may be taken now; then a random one is better than no emulator. */
async function listenOrRandom(server: Server, port: number, host: string, fallback: boolean, log: pino.Logger): Promise<number> {
  try {
    return await listen(server, port, host);
  } catch (err) {
    if (!fallback || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    log.warn({ port }, 'saved port is taken; listening on a random one');
    return listen(server, 0, host);
  }
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
  const store = opts.dataDir ? new EmulatorStore(opts.dataDir) : undefined;
  const saved = store?.load();
  const savedPort = (p: number | undefined): number | undefined => (p ? p : undefined);
  const port = checkInteger('port', opts.port ?? savedPort(saved?.ports.port) ?? opts.defaultPorts?.port ?? 0, 0, 65_535);
  const mtlsPort = checkInteger('mtlsPort', opts.mtlsPort ?? savedPort(saved?.ports.mtlsPort) ?? opts.defaultPorts?.mtlsPort ?? 0, 0, 65_535);
  const rateLimitPerMinute = checkInteger('rateLimitPerMinute', opts.rateLimitPerMinute ?? 300, 0, 1_000_000_000);
  const tokenTtlSeconds = checkInteger('tokenTtlSeconds', opts.tokenTtlSeconds ?? 86_400, 1, 31_536_000);
  const requestTimeoutMs = checkInteger('requestTimeoutMs', opts.requestTimeoutMs ?? 10_000, 1000, 600_000);
  const adminToken = opts.adminToken || process.env.EMULATOR_ADMIN_TOKEN || saved?.adminToken || randomSecret();
  const pkiToken = opts.pkiToken || saved?.pkiToken || randomSecret();
  const pkiSecret = opts.pkiSecret || saved?.pkiSecret || randomSecret();
  const now = opts.now ?? Date.now;
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'emulator' });

  const ca = new EmulatorCa(saved?.ca);
  if (saved) ca.restoreIssued(saved.issued);
  const serverCert = ca.issueServerCert(host === '0.0.0.0' || host === '::' ? [] : [host]);
  const stats = new StatsRecorder();
  const timers = new Set<NodeJS.Timeout>();
  const platform = new Platform({ tokenTtlSeconds, now });
  if (saved) platform.restoreClients(saved.clients);
  const limiter = new RateLimiter(rateLimitPerMinute, now);
  const faults = new FaultQueue();
  const webhooks = new WebhookReceiver({ token: pkiToken, secret: pkiSecret, stats, timers, now });
  if (saved) webhooks.restoreProcessedKeys(saved.processedKeys);
  const telemetry = new HandshakeTelemetry(now);
  let mtlsBase = '';
  const fieldClients = new FieldClients({ platform, ca, mtlsUrl: () => mtlsBase, caPem: ca.certificatePem, now });
  webhooks.onProcessed((delivery) => fieldClients.onDelivery(delivery));

  const route = async (ctx: RequestContext, surface: 'http' | 'mtls'): Promise<void> => {
    if (surface === 'mtls') return handleMtls(ctx, platform, telemetry);
    if (ctx.path === '/__admin' || ctx.path.startsWith('/__admin/')) {
      return handleControlPlane(ctx, { adminToken, platform, ca, faults, webhooks, stats, limiter, fieldClients, telemetry });
    }
    if (ctx.path === '/pki/webhook') return webhooks.handle(ctx);
    if (faultablePath(ctx.path)) return handleGateway(ctx, { platform, limiter, faults, stats, timers, telemetry });
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

  // Slow senders (headers or body trickling in) are cut: nothing holds a socket for minutes.
  const timeouts = { requestTimeout: requestTimeoutMs, headersTimeout: Math.ceil(requestTimeoutMs / 2), connectionsCheckingInterval: 1000 };
  const httpServer = createHttpServer(timeouts, (req, res) => void dispatch(req, res, 'http'));
  const mtlsServer = createHttpsServer(
    { ...timeouts, key: serverCert.privateKeyPem, cert: serverCert.certificatePem, ca: [ca.certificatePem], requestCert: true, rejectUnauthorized: false },
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
    boundPort = await listenOrRandom(httpServer, port, host, opts.port === undefined && savedPort(saved?.ports.port) !== undefined, log);
    boundMtlsPort = await listenOrRandom(mtlsServer, mtlsPort, host, opts.mtlsPort === undefined && savedPort(saved?.ports.mtlsPort) !== undefined, log);
  } catch (err) {
    await Promise.all([closeServer(httpServer), closeServer(mtlsServer)]);
    throw err;
  }
  mtlsBase = `https://${urlHost(host)}:${boundMtlsPort}`;

  if (store) {
    const snapshot = (): StoredState => ({
      format: 1,
      ca: ca.exportState(),
      adminToken,
      pkiToken,
      pkiSecret,
      ports: { port: boundPort, mtlsPort: boundMtlsPort },
      clients: platform.exportClients(),
      issued: ca.exportIssued(),
      processedKeys: webhooks.exportProcessedKeys(),
    });
    store.bind(snapshot);
    platform.onChange(() => store.save());
    ca.onIssued(() => store.save());
    webhooks.onProcessed(() => store.save());
    store.flush();
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      fieldClients.stop();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([closeServer(httpServer), closeServer(mtlsServer)]);
      store?.flush();
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
    mtlsUrl: mtlsBase,
    adminToken,
    pkiWebhookUrl: `${url}/pki/webhook`,
    pkiToken,
    pkiSecret,
    caCertificatePem: ca.certificatePem,
    ...(store ? { dataDir: store.dir } : {}),
    close,
  };
}

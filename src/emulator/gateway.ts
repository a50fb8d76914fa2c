import type { FaultQueue } from './faults';
import {
  decodeSegment,
  headerValue,
  HttpError,
  parseJsonObject,
  readBody,
  sendError,
  sendJson,
  sleep,
  type RequestContext,
} from './http-util';
import type { Platform } from './platform';
import { rateLimitHeaders, type RateLimiter } from './rate-limit';
import type { StatsRecorder } from './stats';
import type { HandshakeTelemetry } from './telemetry';
import type { OAuthErrorBody, QueuedFault, TokenResponse } from './types';

const API_BODY_LIMIT = 512 * 1024;
const LOGIN_BODY_LIMIT = 16 * 1024;
const CLIENT_PATH = /^\/api\/v2\/oauth\/clients\/([^/]+)$/;
const CLIENTS_PATH = '/api/v2/oauth/clients';
const HANDSHAKES_PATH = /^\/api\/v2\/oauth\/clients\/([^/]+)\/handshakes$/;

/** `GET /api/v2/oauth/clients?pageSize&pageNumber`: Genesys' entity listing, sorted by id. */
function listPage(deps: GatewayDeps, url: URL): Record<string, unknown> {
  const pageSize = Math.min(500, Math.max(1, Number.parseInt(url.searchParams.get('pageSize') ?? '25', 10) || 25));
  const pageNumber = Math.max(1, Number.parseInt(url.searchParams.get('pageNumber') ?? '1', 10) || 1);
  const ids = deps.platform.listClientIds().sort();
  const entities = ids.slice((pageNumber - 1) * pageSize, pageNumber * pageSize).map((id) => deps.platform.getClient(id));
  return { entities, pageSize, pageNumber, total: ids.length, pageCount: Math.max(1, Math.ceil(ids.length / pageSize)) };
}

export interface GatewayDeps {
  platform: Platform;
  limiter: RateLimiter;
  faults: FaultQueue;
  stats: StatsRecorder;
  /** Pending fault delays, cleared on close. */
  timers: Set<NodeJS.Timeout>;
  telemetry: HandshakeTelemetry;
}

/** `since` of a handshakes query: an ISO 8601 date-time (Date.parse alone accepts too much: "1", "May 5"). */
export function parseSince(ctx: RequestContext, id: string): number {
  const since = new URL(ctx.req.url ?? '/', 'http://emulator.invalid').searchParams.get('since');
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
  const sinceMs = since !== null && iso.test(since) ? Date.parse(since) : Number.NaN;
  if (!Number.isFinite(sinceMs)) {
    throw new HttpError(400, 'since is required: an ISO 8601 date-time such as 2026-01-01T00:00:00Z.', {
      details: [{ errorCode: since === null ? 'FIELD_MISSING' : 'FIELD_INVALID', fieldName: 'since', entityId: id }],
    });
  }
  return sinceMs;
}

/** `GET /api/v2/oauth/clients/{id}/handshakes?since=ISO` (DESIGN.md §2): the gateway's handshake summary. */
function handshakes(ctx: RequestContext, deps: GatewayDeps, id: string): void {
  if (ctx.method !== 'GET') throw new HttpError(405, `${ctx.method} is not supported on ${ctx.path}; use GET.`, { headers: { allow: 'GET' } });
  const client = deps.platform.activePins(id);
  if (!client) throw new HttpError(404, `OAuth client ${id} was not found.`);
  sendJson(ctx.res, 200, deps.telemetry.summary(id, parseSince(ctx, id), client.pins));
}

/** The platform's public surface: `POST /oauth/token` and `/api/v2/...`, behind the fault queue. */
export async function handleGateway(ctx: RequestContext, deps: GatewayDeps): Promise<void> {
  const isApi = ctx.path.startsWith('/api/');
  if (isApi) {
    // Every API answer carries the window, errors included; refined once the caller is known.
    const token = bearerToken(headerValue(ctx.req, 'authorization'));
    const known = token !== undefined && deps.platform.authenticate(token) !== undefined;
    setHeaders(ctx, rateLimitHeaders(deps.limiter.peek(known ? token : undefined)));
  }
  const fault = deps.faults.take(ctx.method, ctx.path);
  if (fault) {
    await injectFault(ctx, fault, deps);
    return;
  }
  if (ctx.path === '/oauth/token') {
    await handleLogin(ctx, deps);
  } else if (isApi) {
    await handleApi(ctx, deps);
  } else {
    throw new HttpError(404, `No route for ${ctx.method} ${ctx.path}.`);
  }
}

/** Fails the request as the fault says: after `delayMs`, an ErrorBody with `status`, or a reset when 0. */
async function injectFault(ctx: RequestContext, fault: QueuedFault, deps: GatewayDeps): Promise<void> {
  deps.stats.faultsInjected += 1;
  ctx.log.debug({ faultId: fault.id, status: fault.status, delayMs: fault.delayMs }, 'injecting fault');
  if (fault.delayMs) await sleep(fault.delayMs, deps.timers);
  if (fault.status === 0) {
    ctx.req.socket.destroy();
    return;
  }
  const headers: Record<string, string> = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
  sendError(ctx.res, new HttpError(fault.status, `Injected fault ${fault.id}: HTTP ${fault.status}.`, { headers }), ctx.correlationId);
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match ? match[1] : undefined;
}

function setHeaders(ctx: RequestContext, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) ctx.res.setHeader(name, value);
}

async function handleApi(ctx: RequestContext, deps: GatewayDeps): Promise<void> {
  const header = headerValue(ctx.req, 'authorization');
  const token = bearerToken(header);
  if (token === undefined) {
    throw new HttpError(401, 'Authentication required: send Authorization: Bearer <access token>.', { code: 'authentication.required' });
  }
  if (deps.platform.authenticate(token) === undefined) {
    throw new HttpError(401, 'The access token is invalid or has expired.', { code: 'bad.credentials' });
  }
  const window = deps.limiter.hit(token);
  setHeaders(ctx, rateLimitHeaders(window));
  if (window.limited) {
    throw new HttpError(429, `Rate limit exceeded: ${window.allowed} requests per minute per token. Retry after ${window.resetSeconds} s.`, {
      code: 'too.many.requests.retry.after',
      headers: { 'retry-after': String(window.resetSeconds) },
    });
  }
  if (ctx.path === CLIENTS_PATH) {
    if (ctx.method !== 'GET') throw new HttpError(405, `${ctx.method} is not supported on ${ctx.path}; use GET.`, { headers: { allow: 'GET' } });
    sendJson(ctx.res, 200, listPage(deps, new URL(ctx.req.url ?? '/', 'http://emulator.invalid')));
    return;
  }
  const handshakesMatch = HANDSHAKES_PATH.exec(ctx.path);
  if (handshakesMatch) {
    handshakes(ctx, deps, decodeSegment(handshakesMatch[1]));
    return;
  }
  const match = CLIENT_PATH.exec(ctx.path);
  if (!match) throw new HttpError(404, `No route for ${ctx.method} ${ctx.path}.`);
  const id = decodeSegment(match[1]);
  if (ctx.method === 'GET') {
    const client = deps.platform.getClient(id);
    if (!client) throw new HttpError(404, `OAuth client ${id} was not found.`);
    sendJson(ctx.res, 200, client);
  } else if (ctx.method === 'PATCH') {
    const body = parseJsonObject(await readBody(ctx.req, API_BODY_LIMIT), id);
    const client = deps.platform.patchClient(id, body);
    ctx.log.info({ clientId: id, version: client.version, pins: client.pins.length }, 'client patched');
    sendJson(ctx.res, 200, client);
  } else {
    throw new HttpError(405, `${ctx.method} is not supported on ${ctx.path}; use GET or PATCH.`, { headers: { allow: 'GET, PATCH' } });
  }
}

/** Login failures answer in the OAuth shape, not ErrorBody. */
class OAuthError extends HttpError {
  readonly body: OAuthErrorBody;

  constructor(status: number, error: string, description: string) {
    super(status, description);
    this.body = { error, description, error_description: description };
  }
}

function oauthError(status: number, error: string, description: string): OAuthError {
  return new OAuthError(status, error, description);
}

/** Client-credentials login; every failure in the OAuth error shape. */
async function handleLogin(ctx: RequestContext, deps: GatewayDeps): Promise<void> {
  try {
    if (ctx.method !== 'POST') throw oauthError(405, 'invalid_request', 'Use POST for /oauth/token.');
    let raw: Buffer;
    try {
      raw = await readBody(ctx.req, LOGIN_BODY_LIMIT);
    } catch (err) {
      if (err instanceof HttpError) throw oauthError(err.status, 'invalid_request', err.message);
      throw err;
    }
    const form = new URLSearchParams(raw.toString('utf8'));
    const grantType = form.get('grant_type');
    if (!grantType) throw oauthError(400, 'invalid_request', 'grant_type is required (form field grant_type=client_credentials).');
    if (grantType !== 'client_credentials') throw oauthError(400, 'unsupported_grant_type', `grant_type ${grantType} is not supported; use client_credentials.`);
    const credentials = basicCredentials(headerValue(ctx.req, 'authorization'));
    if (!credentials) throw oauthError(401, 'invalid_client', 'Client authentication required: HTTP Basic clientId:secret.');
    const grant = deps.platform.grantToken(credentials.clientId, credentials.secret);
    if (!grant) throw oauthError(401, 'invalid_client', 'Client authentication failed.');
    deps.stats.tokenGrants += 1;
    const body: TokenResponse = { access_token: grant.accessToken, token_type: 'bearer', expires_in: grant.expiresIn };
    sendJson(ctx.res, 200, body, { 'cache-control': 'no-store' });
  } catch (err) {
    if (err instanceof OAuthError) {
      const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Basic realm="genesys-emulator"' } : {};
      if (err.status === 405) headers.allow = 'POST';
      sendJson(ctx.res, err.status, err.body, headers);
      return;
    }
    throw err;
  }
}

function basicCredentials(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { clientId: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

import platformClient from 'purecloud-platform-client-v2';
import { FailureType, PlatformError, parseRetryAfter, typeForStatus } from './errors';
import type { RotationMetrics } from '../metrics/registry';
import { RatePacer } from './rate-pacer';
import { TokenCache } from './token-cache';
import type { ClientPage, ClientPatch, HandshakeSummary, OAuthClientState, PinHandshakes, PlatformPort, RateLimitInfo } from './types';

/**
 * The Genesys Cloud adapter over the official SDK. One ApiClient per org (never the SDK's singleton), the SDK's
 * config-file watcher off, extended responses on so status and Retry-After are visible, and PATCH (which the
 * SDK has no method for) through `callApi`.
 */

export interface GenesysConnection {
  clientId: string;
  clientSecret: string;
  /** Region, e.g. `mypurecloud.ie`; used when no gateway is set. */
  environment?: string;
  /** An org's gateway or the emulator, e.g. `http://127.0.0.1:8787`. */
  gatewayUrl?: string;
  timeoutMs?: number;
}

interface ExtendedResponse {
  status: number;
  headers: Record<string, unknown>;
  body: unknown;
  error?: unknown;
}

// The SDK's typings do not declare the ApiClient class itself, only the singleton instance.
type ApiClient = typeof platformClient.ApiClient;
interface SdkModule {
  ApiClientClass: new () => ApiClient;
  OAuthApi: new (client: ApiClient) => { getOauthClient(id: string): Promise<unknown> };
}
const sdk = platformClient as unknown as SdkModule;

const CLIENT_PATH = '/api/v2/oauth/clients/{clientId}';
const HANDSHAKES_PATH = '/api/v2/oauth/clients/{clientId}/handshakes';
const AUTH = ['PureCloud OAuth'];
const JSON_TYPES = ['application/json'];

export function createApiClient(conn: GenesysConnection): ApiClient {
  const client = new sdk.ApiClientClass();
  const config = client.config as unknown as {
    live_reload_config: boolean;
    setConfigPath(path: string): void;
    logger: { log_level: string; setLogger(): void };
  };
  // A worker must not change behaviour because someone edits ~/.genesyscloudjavascript/config.
  config.live_reload_config = false;
  config.setConfigPath('');
  // The SDK logger prints request headers (the bearer token); keep it silent.
  config.logger.log_level = 'none';
  config.logger.setLogger();
  if (conn.environment) client.setEnvironment(conn.environment);
  if (conn.gatewayUrl) {
    const url = new URL(conn.gatewayUrl);
    client.setGateway({
      host: url.hostname,
      protocol: url.protocol.replace(':', ''),
      port: url.port ? Number(url.port) : -1,
      path_params_login: url.pathname === '/' ? '' : url.pathname,
      path_params_api: url.pathname === '/' ? '' : url.pathname,
    });
  } else {
    client.setGateway(undefined as never);
  }
  client.setReturnExtendedResponses(true);
  (client as unknown as { timeout: number }).timeout = conn.timeoutMs ?? 15_000;
  return client;
}

function header(headers: Record<string, unknown> | undefined, name: string): unknown {
  if (!headers) return undefined;
  const direct = headers[name] ?? headers[name.toLowerCase()];
  if (direct !== undefined) return direct;
  const getter = (headers as { get?: (n: string) => unknown }).get;
  return typeof getter === 'function' ? getter.call(headers, name) : undefined;
}

function rateLimitFrom(headers: Record<string, unknown> | undefined): RateLimitInfo | undefined {
  const count = Number(header(headers, 'inin-ratelimit-count'));
  const allowed = Number(header(headers, 'inin-ratelimit-allowed'));
  const reset = Number(header(headers, 'inin-ratelimit-reset'));
  if (!Number.isFinite(count) || !Number.isFinite(allowed) || !Number.isFinite(reset)) return undefined;
  return { count, allowed, resetSeconds: reset };
}

/** Turns whatever the SDK rejected with (extended response, axios error, plain error) into a PlatformError. */
export function classifySdkError(err: unknown, what: string): PlatformError | Error {
  if (err instanceof PlatformError) return err;
  const ext = err as Partial<ExtendedResponse> & { response?: { status?: number; headers?: Record<string, unknown>; data?: unknown }; code?: string };
  const status = typeof ext?.status === 'number' ? ext.status : ext?.response?.status;
  const headers = (ext?.headers ?? ext?.response?.headers) as Record<string, unknown> | undefined;
  const body = (ext?.body ?? ext?.response?.data) as Record<string, unknown> | undefined;
  if (typeof status === 'number') {
    const code = typeof body?.code === 'string' ? body.code : typeof body?.error === 'string' ? body.error : undefined;
    const platformMessage = typeof body?.message === 'string' ? body.message : typeof body?.error_description === 'string' ? body.error_description : undefined;
    const type = typeForStatus(status);
    return new PlatformError(`${what}: HTTP ${status}${code ? ` ${code}` : ''}${platformMessage ? `: ${platformMessage}` : ''}`, {
      type,
      status,
      code,
      correlationId: String(header(headers, 'ININ-Correlation-Id') ?? '') || undefined,
      retryAfterMs: status === 429 ? (parseRetryAfter(header(headers, 'retry-after')) ?? 1000) : undefined,
      details: Array.isArray(body?.details) ? (body.details as unknown[]) : [],
    });
  }
  const inner = (ext as { error?: unknown })?.error ?? err;
  const code = (inner as { code?: unknown })?.code;
  if (typeof code === 'string') {
    return new PlatformError(`${what}: ${code}`, { type: FailureType.Unavailable, code });
  }
  return err instanceof Error ? err : new Error(`${what}: ${String(err)}`);
}

export class GenesysPlatform implements PlatformPort {
  readonly api: ApiClient;
  readonly tokens: TokenCache;
  readonly pacer: RatePacer;
  lastRateLimit?: RateLimitInfo;
  requests = 0;

  constructor(
    private readonly conn: GenesysConnection,
    now: () => number = Date.now,
    private readonly metrics?: RotationMetrics,
  ) {
    this.api = createApiClient(conn);
    this.tokens = new TokenCache(() => this.grant(), now);
    this.pacer = new RatePacer(now);
  }

  private async grant(): Promise<{ accessToken: string; expiresInSeconds: number }> {
    try {
      const started = Date.now();
      const auth = (await this.api.loginClientCredentialsGrant(this.conn.clientId, this.conn.clientSecret)) as { accessToken: string; tokenExpiryTime: number };
      this.metrics?.tokenGrants.inc();
      return { accessToken: auth.accessToken, expiresInSeconds: Math.max(0, (auth.tokenExpiryTime - started) / 1000) };
    } catch (err) {
      throw classifySdkError(err, 'token grant');
    }
  }

  /** Runs one authenticated call; a 401 drops the cached token and tries once more with a fresh one. */
  private count(method: string, status: number | undefined): void {
    if (!this.metrics) return;
    this.metrics.platformRequests.inc({ method, status: String(status ?? 0) });
    if (status === 429) this.metrics.rateLimited.inc();
  }

  private async call(what: string, fn: () => Promise<unknown>): Promise<ExtendedResponse> {
    const method = what.split(' ')[0];
    for (let attempt = 0; ; attempt += 1) {
      await this.pacer.beforeRequest();
      let token: string;
      try {
        token = await this.tokens.get();
      } catch (err) {
        this.pacer.answered(undefined);
        throw err;
      }
      this.api.setAccessToken(token);
      try {
        this.requests += 1;
        const res = (await fn()) as ExtendedResponse;
        this.count(method, res.status);
        const window = rateLimitFrom(res.headers);
        this.pacer.answered(window);
        this.lastRateLimit = window ?? this.lastRateLimit;
        return res;
      } catch (err) {
        const classified = classifySdkError(err, what);
        const ext = err as Partial<ExtendedResponse>;
        this.count(method, classified instanceof PlatformError ? classified.status : undefined);
        const window = rateLimitFrom(ext?.headers ?? (ext as { response?: { headers?: Record<string, unknown> } })?.response?.headers);
        this.pacer.answered(window);
        this.lastRateLimit = window ?? this.lastRateLimit;
        if (classified instanceof PlatformError && classified.status === 401 && attempt === 0) {
          this.tokens.invalidate(token);
          continue;
        }
        throw classified;
      }
    }
  }

  async getClient(clientId: string): Promise<OAuthClientState> {
    const oauth = new sdk.OAuthApi(this.api);
    const res = await this.call(`GET client ${clientId}`, () => oauth.getOauthClient(clientId));
    return toClientState(res.body);
  }

  async listClients(pageNumber: number, pageSize: number): Promise<ClientPage> {
    // The SDK's getOauthClients takes no paging options; the gateway pages with the usual query parameters.
    const res = await this.call('GET clients', () =>
      this.api.callApi('/api/v2/oauth/clients', 'GET', {}, { pageSize, pageNumber } as never, {}, {}, null, AUTH, JSON_TYPES, JSON_TYPES),
    );
    const body = (res.body ?? {}) as { entities?: unknown[]; pageNumber?: number; pageCount?: number; total?: number };
    const entities = (body.entities ?? []).map(toClientState);
    return { entities, pageNumber: body.pageNumber ?? pageNumber, pageCount: body.pageCount ?? 1, total: body.total ?? entities.length };
  }

  /** `GET /api/v2/oauth/clients/{id}/handshakes?since=ISO` through `callApi`, paced and classified like every call. */
  async getHandshakes(clientId: string, sinceIso: string): Promise<HandshakeSummary> {
    const res = await this.call(`GET handshakes ${clientId}`, () =>
      this.api.callApi(HANDSHAKES_PATH, 'GET', { clientId }, { since: sinceIso } as never, {}, {}, null, AUTH, JSON_TYPES, JSON_TYPES),
    );
    return toHandshakeSummary(res.body, clientId);
  }

  async patchClient(clientId: string, patch: ClientPatch): Promise<OAuthClientState> {
    const res = await this.call(`PATCH client ${clientId}`, () =>
      this.api.callApi(CLIENT_PATH, 'PATCH', { clientId }, {}, {}, {}, patch, AUTH, JSON_TYPES, JSON_TYPES),
    );
    return toClientState(res.body);
  }
}

const ROLES = new Set(['primary', 'fallback', 'backup']);

/**
 * Checks the telemetry answer's shape: a drain decision made on a half-read summary would be a guess. Anything
 * off is PlatformUnexpected (not retried), naming the field.
 */
export function toHandshakeSummary(body: unknown, clientId: string): HandshakeSummary {
  const b = (body ?? {}) as Record<string, unknown>;
  const bad = (field: string): PlatformError =>
    new PlatformError(`platform answered handshakes of ${clientId} with an invalid ${field}`, { type: FailureType.Unexpected });
  const count = (v: unknown, field: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field);
    return v;
  };
  const time = (v: unknown, field: string): string => {
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw bad(field);
    return v;
  };
  if (!Array.isArray(b.byPin)) throw bad('byPin');
  const byPin: PinHandshakes[] = b.byPin.map((raw: unknown, i) => {
    const p = (raw ?? {}) as Record<string, unknown>;
    if (typeof p.role !== 'string' || !ROLES.has(p.role)) throw bad(`byPin[${i}].role`);
    if (typeof p.sha256Spki !== 'string') throw bad(`byPin[${i}].sha256Spki`);
    return {
      role: p.role as PinHandshakes['role'],
      sha256Spki: p.sha256Spki,
      sha256Certificate: typeof p.sha256Certificate === 'string' ? p.sha256Certificate : '',
      accepted: count(p.accepted, `byPin[${i}].accepted`),
      lastSeen: time(p.lastSeen, `byPin[${i}].lastSeen`),
    };
  });
  return {
    clientId: typeof b.clientId === 'string' ? b.clientId : clientId,
    since: time(b.since, 'since'),
    until: time(b.until, 'until'),
    accepted: count(b.accepted, 'accepted'),
    rejected: count(b.rejected, 'rejected'),
    byPin,
    rejectedLastSeen: b.rejectedLastSeen === null || b.rejectedLastSeen === undefined ? null : time(b.rejectedLastSeen, 'rejectedLastSeen'),
  };
}

export function toClientState(body: unknown): OAuthClientState {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b.id !== 'string' || typeof b.version !== 'number') {
    throw new PlatformError('platform answered without an OAuth client (missing id or version)', { type: FailureType.Unexpected });
  }
  return {
    id: b.id,
    name: typeof b.name === 'string' ? b.name : '',
    state: typeof b.state === 'string' ? b.state : 'unknown',
    mtlsRequired: b.mtlsRequired === true,
    certificateChain: typeof b.certificateChain === 'string' ? b.certificateChain : '',
    pins: Array.isArray(b.pins) ? (b.pins as OAuthClientState['pins']) : [],
    version: b.version,
    dateModified: typeof b.dateModified === 'string' ? b.dateModified : undefined,
  };
}

import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import type { Pin } from '../pins/types';

/**
 * The PKI manager webhook (DESIGN.md §3): bearer token, an Idempotency-Key that carries the run, a signature over
 * timestamp, key and body; no redirects, https unless loopback; 2xx success, 4xx final (408/429 retried), 5xx,
 * timeouts and connection errors retried.
 */

export type PkiEvent = 'certificate_rotation' | 'rotation_finalized' | 'rotation_rolled_back';

export interface PkiEventBody {
  event: PkiEvent;
  clientId: string;
  serviceId: string;
  pins: Pin[];
  workflowId: string;
  runId: string;
  latencyMs: number;
  /** Who asked for the rotation and who approved it (DESIGN.md §4 Approval), when known. */
  requester?: string;
  approver?: string;
  /** Set once by the workflow; the signature timestamp derives from it, so every retry signs the same bytes. */
  occurredAt: string;
}

export interface PkiNotifier {
  notify(body: PkiEventBody): Promise<{ status: number }>;
}

export interface PkiWebhookConfig {
  url: string;
  token: string;
  secret: string;
  timeoutMs?: number;
  /**
   * What `X-Signature-Timestamp` is. 'occurredAt' (default, DESIGN.md §3): the event's time, so every retry of a
   * delivery is byte-identical; a retry more than 5 minutes after the event is then refused by the receiver's
   * skew check (401, final). 'attempt': the time of each send; the key (signed too) still dedupes retries.
   */
  signatureTime?: 'occurredAt' | 'attempt';
  /** Clock for 'attempt' (tests); default Date.now. */
  now?: () => number;
}

export const PkiFailureType = { Rejected: 'PkiRejected', Unavailable: 'PkiUnavailable' } as const;

/** `<workflowId>:<runId>:<event>`: the run is in the key, so a client's next rotation is never a repeat of its last. */
export function idempotencyKey(body: Pick<PkiEventBody, 'workflowId' | 'runId' | 'event'>): string {
  return `${body.workflowId}:${body.runId}:${body.event}`;
}

/** Unix seconds of `occurredAt`; undefined when it is not a date. */
export function signatureTimestamp(occurredAt: string): number | undefined {
  const ms = Date.parse(occurredAt);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<idempotencyKey>.<raw body>")>`: shared by sender, receiver and tests. */
export function signDelivery(secret: string, timestamp: number | string, key: string, rawBody: string | Buffer): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.${key}.`, 'utf8');
  hmac.update(rawBody);
  return `sha256=${hmac.digest('hex')}`;
}

/** Loopback by address (127/8, ::1, IPv4-mapped 127/8) or the reserved name `localhost`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return /^127\./.test(host);
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./.test(host) || /^::ffff:7f[0-9a-f]{2}:/.test(host);
  return false;
}

/**
 * Checks the webhook URL: absolute, https, or http only on a loopback address (the Bearer token must not travel
 * in clear), and no credentials in it. Throws an Error naming PKI_WEBHOOK_URL and the URL without its query.
 */
export function checkWebhookUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('PKI_WEBHOOK_URL is not an absolute URL.');
  }
  const shown = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  if (parsed.username || parsed.password) throw new Error(`PKI_WEBHOOK_URL ${shown} must not carry credentials; use PKI_WEBHOOK_TOKEN.`);
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname)) return parsed;
  throw new Error(`PKI_WEBHOOK_URL ${shown} is refused: use https (plain http only on a loopback address).`);
}

function rejected(message: string, status?: number): ApplicationFailure {
  return ApplicationFailure.create({ message, type: PkiFailureType.Rejected, nonRetryable: true, details: status === undefined ? [] : [{ status }] });
}

export class PkiWebhookClient implements PkiNotifier {
  private readonly url: URL;

  /** Throws when the URL is refused (see checkWebhookUrl) or the token or secret is empty. */
  constructor(private readonly config: PkiWebhookConfig) {
    this.url = checkWebhookUrl(config.url);
    if (!config.token) throw new Error('PKI_WEBHOOK_TOKEN must not be empty.');
    if (!config.secret) throw new Error('PKI_WEBHOOK_SECRET must not be empty.');
  }

  async notify(body: PkiEventBody): Promise<{ status: number }> {
    // Checked again per call: the object may outlive a config change, and the rule must hold for every send.
    let url: URL;
    try {
      url = checkWebhookUrl(this.url.href);
    } catch (err) {
      throw rejected(`PKI webhook ${body.event} not sent: ${(err as Error).message}`);
    }
    const eventTime = signatureTimestamp(body.occurredAt);
    if (eventTime === undefined) throw rejected(`PKI webhook ${body.event} not sent: occurredAt is not a date.`);
    const timestamp = this.config.signatureTime === 'attempt' ? Math.floor((this.config.now ?? Date.now)() / 1000) : eventTime;
    const raw = JSON.stringify(body);
    const key = idempotencyKey(body);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${this.config.token}`,
          'Idempotency-Key': key,
          'X-Signature-Timestamp': String(timestamp),
          'X-Signature-256': signDelivery(this.config.secret, timestamp, key, raw),
        },
        body: raw,
        signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const reason = err instanceof Error ? (err.name === 'TimeoutError' ? 'timed out' : describeFetchError(err)) : String(err);
      throw ApplicationFailure.create({ message: `PKI webhook ${body.event} unreachable: ${reason}`, type: PkiFailureType.Unavailable });
    }
    // Drain the body so the connection can be reused; its content is the receiver's business.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { status: res.status };
    if (res.status >= 300 && res.status < 400) {
      // Following it would re-post the signed body and the Bearer token to wherever the answer points.
      throw rejected(`PKI manager answered ${body.event} with a redirect (HTTP ${res.status}); redirects are not followed`, res.status);
    }
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      throw rejected(`PKI manager refused ${body.event} with HTTP ${res.status}`, res.status);
    }
    throw ApplicationFailure.create({
      message: `PKI manager answered ${body.event} with HTTP ${res.status}`,
      type: PkiFailureType.Unavailable,
      details: [{ status: res.status }],
    });
  }
}

/** undici wraps the socket error in `cause`; its code says more than "fetch failed". */
function describeFetchError(err: Error): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return `${err.message} (${cause.code})`;
  return err.message;
}

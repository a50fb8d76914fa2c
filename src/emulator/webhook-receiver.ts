import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { signDelivery } from '../activities/pki';
import { headerValue, HttpError, readBody, safeEqual, sendError, sendJson, sleep, type RequestContext } from './http-util';
import type { StatsRecorder } from './stats';
import type { PkiEvent, WebhookDelivery, WebhookFailSpec, WebhookRefusal } from './types';

/** 1 MiB: a delivery is a few KB; anything near this is not a PKI event. */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;
/** Headers and body must have arrived within this; slow senders hold no socket for long. */
export const WEBHOOK_BODY_TIMEOUT_MS = 5_000;
/** DESIGN.md §3: a timestamp further than this from the receiver's clock is refused. */
export const WEBHOOK_MAX_SKEW_SECONDS = 300;
/** Ring of recorded deliveries. */
export const MAX_DELIVERIES = 1000;
/** Bytes of full bodies kept across the ring; the oldest records go first past it. */
export const MAX_DELIVERY_BYTES = 32 * 1024 * 1024;
/** Ring of processed keys. A key older than the skew window cannot come back (its timestamp is signed). */
export const MAX_PROCESSED_KEYS = 100_000;
const MAX_KEY_LENGTH = 1024;
const SUMMARY_HEADERS = ['content-type', 'content-length', 'user-agent', 'idempotency-key', 'x-signature-timestamp', 'x-signature-256'];
const SUMMARY_HEADER_CHARS = 256;
const EVENTS: readonly PkiEvent[] = ['certificate_rotation', 'rotation_finalized', 'rotation_rolled_back'];

export interface WebhookReceiverOptions {
  token: string;
  secret: string;
  stats: StatsRecorder;
  timers: Set<NodeJS.Timeout>;
  /** Clock for the skew check (ms); default Date.now. */
  now?: () => number;
}

/** A delivery the receiver processed (first sighting of its key), for field clients and persistence. */
export interface ProcessedDelivery {
  key: string;
  event: PkiEvent;
  body: Record<string, unknown>;
}

/** `X-Signature-256: sha256=<hex>` checked against HMAC-SHA256("<ts>.<key>.<raw body>") in constant time. */
export function signatureMatches(header: string | undefined, timestamp: string, key: string, raw: Buffer, secret: string): boolean {
  const match = header ? /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim()) : null;
  if (!match) return false;
  const given = Buffer.from(match[1], 'hex');
  const expected = Buffer.from(signDelivery(secret, timestamp, key, raw).slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function allHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (out.authorization !== undefined) out.authorization = /^Bearer\s/i.test(out.authorization) ? 'Bearer ***' : '***';
  return out;
}

/** The few headers a summary keeps, each truncated: what an operator needs to see why it was refused. */
function summaryHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SUMMARY_HEADERS) {
    const value = headers[name];
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    out[name] = text.length > SUMMARY_HEADER_CHARS ? `${text.slice(0, SUMMARY_HEADER_CHARS)}…` : text;
  }
  if (headers.authorization !== undefined) out.authorization = /^Bearer\s/i.test(String(headers.authorization)) ? 'Bearer ***' : '***';
  return out;
}

function truncate(text: string | null, max: number): string | null {
  return text !== null && text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * The PKI manager's webhook (DESIGN.md §3). Refuses (401) a missing or wrong bearer token, a missing key or
 * timestamp, a signature that does not verify over "<ts>.<key>.<body>" and a timestamp more than 5 minutes from
 * its clock; processes each Idempotency-Key once (a repeat is 200 `duplicate: true`). Everything it keeps is
 * bounded: the delivery ring by count and bytes, the processed keys by count, unauthenticated requests as a
 * summary only, bodies at 1 MiB (413) and 5 s (408).
 */
export class WebhookReceiver {
  private deliveries: WebhookDelivery[] = [];
  private deliveryBytes = 0;
  private processedKeys = new Map<string, number>();
  private failing: (WebhookFailSpec & { remaining: number }) | undefined;
  private seq = 0;
  private readonly listeners: Array<(delivery: ProcessedDelivery) => void> = [];
  private readonly now: () => number;

  constructor(private readonly options: WebhookReceiverOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The next `times` deliveries are answered `status` (0 = connection reset) and not processed. */
  fail(spec: WebhookFailSpec): void {
    this.failing = spec.times > 0 ? { ...spec, remaining: spec.times } : undefined;
  }

  /** Called synchronously after each processed delivery (never for duplicates or refusals). */
  onProcessed(listener: (delivery: ProcessedDelivery) => void): void {
    this.listeners.push(listener);
  }

  list(): WebhookDelivery[] {
    return structuredClone(this.deliveries);
  }

  /** How much the receiver holds: for tests and the bounded-store checks. */
  sizes(): { deliveries: number; deliveryBytes: number; processedKeys: number } {
    return { deliveries: this.deliveries.length, deliveryBytes: this.deliveryBytes, processedKeys: this.processedKeys.size };
  }

  /** Processed keys with the time they were processed, oldest first (persistence). */
  exportProcessedKeys(): Array<[string, number]> {
    return [...this.processedKeys];
  }

  restoreProcessedKeys(keys: Array<[string, number]>): void {
    for (const [key, at] of keys.slice(-MAX_PROCESSED_KEYS)) if (typeof key === 'string' && typeof at === 'number') this.processedKeys.set(key, at);
  }

  reset(): void {
    this.deliveries = [];
    this.deliveryBytes = 0;
    this.processedKeys = new Map();
    this.failing = undefined;
  }

  async handle(ctx: RequestContext): Promise<void> {
    if (ctx.method !== 'POST') throw new HttpError(405, 'Use POST for /pki/webhook.', { headers: { allow: 'POST' } });
    const { stats } = this.options;
    stats.webhooksReceived += 1;
    const timestampHeader = headerValue(ctx.req, 'x-signature-timestamp')?.trim();
    const timestamp = timestampHeader !== undefined && /^\d{1,12}$/.test(timestampHeader) ? Number(timestampHeader) : null;
    const idempotencyKey = headerValue(ctx.req, 'idempotency-key')?.trim() || null;
    const declared = Number(ctx.req.headers['content-length']);
    const record: WebhookDelivery = {
      seq: ++this.seq,
      receivedAt: new Date(this.now()).toISOString(),
      headers: summaryHeaders(ctx.req.headers),
      body: null,
      bodyBytes: Number.isFinite(declared) ? declared : 0,
      signatureValid: false,
      tokenValid: this.tokenValid(headerValue(ctx.req, 'authorization')),
      timestamp,
      idempotencyKey: truncate(idempotencyKey, 128),
      duplicate: false,
      status: 0,
      summary: true,
    };
    const refuse = (status: number, refusal: WebhookRefusal, message: string, code?: string): void => {
      record.status = status;
      record.refusal = refusal;
      this.keep(record);
      sendError(ctx.res, new HttpError(status, message, code ? { code } : {}), ctx.correlationId);
    };

    // Nothing of an unauthenticated request is read or kept beyond a summary; Node discards its body.
    if (!record.tokenValid) {
      refuse(401, 'token', 'Authorization must be Bearer <PKI token>.');
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(ctx.req, WEBHOOK_BODY_LIMIT, WEBHOOK_BODY_TIMEOUT_MS);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 0;
      record.status = status;
      record.refusal = status === 413 ? 'too_large' : 'timeout';
      this.keep(record);
      throw err;
    }
    record.bodyBytes = raw.length;
    const signatureValid =
      idempotencyKey !== null && timestampHeader !== undefined && signatureMatches(headerValue(ctx.req, 'x-signature-256'), timestampHeader, idempotencyKey, raw, this.options.secret);
    record.signatureValid = signatureValid;
    if (signatureValid) {
      // Signed by the holder of the secret: worth keeping whole.
      record.summary = false;
      record.headers = allHeaders(ctx.req.headers);
      record.idempotencyKey = idempotencyKey;
      const text = raw.toString('utf8');
      try {
        record.body = JSON.parse(text);
      } catch {
        record.body = text;
      }
    }

    if (this.failing) {
      const failing = this.failing;
      failing.remaining -= 1;
      if (failing.remaining <= 0) this.failing = undefined;
      record.status = failing.status;
      record.refusal = 'armed';
      this.keep(record);
      if (failing.delayMs) await sleep(failing.delayMs, this.options.timers);
      if (failing.status === 0) {
        ctx.req.socket.destroy();
        return;
      }
      sendError(ctx.res, new HttpError(failing.status, `PKI receiver armed to fail: HTTP ${failing.status}.`), ctx.correlationId);
      return;
    }

    if (idempotencyKey === null) return refuse(401, 'key_missing', 'Idempotency-Key is required: <workflowId>:<runId>:<event>.');
    if (idempotencyKey.length > MAX_KEY_LENGTH) return refuse(401, 'key_invalid', `Idempotency-Key is longer than ${MAX_KEY_LENGTH} characters.`);
    if (timestamp === null) return refuse(401, 'timestamp_missing', 'X-Signature-Timestamp is required: unix seconds.');
    if (!signatureValid) {
      return refuse(401, 'signature', 'X-Signature-256 does not verify: sha256=<hex HMAC-SHA256 of "<timestamp>.<idempotencyKey>.<raw body>">.');
    }
    const skew = Math.abs(this.now() / 1000 - timestamp);
    if (skew > WEBHOOK_MAX_SKEW_SECONDS) {
      return refuse(401, 'timestamp_skew', `X-Signature-Timestamp is ${Math.round(skew)} s from the receiver's clock; at most ${WEBHOOK_MAX_SKEW_SECONDS} s is accepted.`);
    }
    const body = record.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return refuse(400, 'json', 'The body is not a JSON object.');
    const fields = body as Record<string, unknown>;
    const event = fields.event;
    if (typeof event !== 'string' || !EVENTS.includes(event as PkiEvent)) return refuse(400, 'event', `event must be one of ${EVENTS.join(', ')}.`);
    if (idempotencyKey !== `${String(fields.workflowId)}:${String(fields.runId)}:${event}`) {
      return refuse(400, 'key_mismatch', 'Idempotency-Key must be <workflowId>:<runId>:<event> of the body.');
    }

    if (this.processedKeys.has(idempotencyKey)) {
      record.duplicate = true;
      stats.webhookDuplicates += 1;
    } else {
      this.remember(idempotencyKey);
      stats.processedEvent(event);
      for (const listener of this.listeners) {
        try {
          listener({ key: idempotencyKey, event: event as PkiEvent, body: fields });
        } catch (err) {
          ctx.log.error({ err: (err as Error).message }, 'webhook listener failed');
        }
      }
    }
    record.status = 200;
    this.keep(record);
    ctx.log.info({ idempotencyKey, duplicate: record.duplicate }, 'pki webhook received');
    sendJson(ctx.res, 200, { received: true, duplicate: record.duplicate, idempotencyKey });
  }

  private remember(key: string): void {
    this.processedKeys.set(key, this.now());
    if (this.processedKeys.size > MAX_PROCESSED_KEYS) {
      const oldest = this.processedKeys.keys().next().value;
      if (oldest !== undefined) this.processedKeys.delete(oldest);
    }
  }

  private tokenValid(header: string | undefined): boolean {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    return match !== null && safeEqual(match[1], this.options.token);
  }

  private keep(record: WebhookDelivery): void {
    if (record.summary) record.body = null;
    this.deliveries.push(record);
    this.deliveryBytes += record.summary ? 0 : (record.bodyBytes ?? 0);
    while (this.deliveries.length > MAX_DELIVERIES || (this.deliveryBytes > MAX_DELIVERY_BYTES && this.deliveries.length > 1)) {
      const dropped = this.deliveries.shift();
      if (dropped && !dropped.summary) this.deliveryBytes -= dropped.bodyBytes ?? 0;
    }
  }
}

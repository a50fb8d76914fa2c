import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { headerValue, HttpError, readBody, safeEqual, sendError, sendJson, sleep, type RequestContext } from './http-util';
import type { StatsRecorder } from './stats';
import type { PkiEvent, WebhookDelivery, WebhookFailSpec } from './types';

const BODY_LIMIT = 512 * 1024;
const MAX_DELIVERIES = 1000;
const EVENTS: readonly PkiEvent[] = ['certificate_rotation', 'rotation_finalized', 'rotation_rolled_back'];

export interface WebhookReceiverOptions {
  token: string;
  secret: string;
  stats: StatsRecorder;
  timers: Set<NodeJS.Timeout>;
}

/** `X-Signature-256: sha256=<hex>` checked against HMAC-SHA256(raw body) in constant time. */
export function signatureMatches(header: string | undefined, raw: Buffer, secret: string): boolean {
  const match = header ? /^sha256=([0-9a-fA-F]+)$/.exec(header.trim()) : null;
  if (!match) return false;
  const given = Buffer.from(match[1], 'hex');
  const expected = createHmac('sha256', secret).update(raw).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function redactHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  if (out.authorization !== undefined) out.authorization = /^Bearer\s/i.test(out.authorization) ? 'Bearer ***' : '***';
  return out;
}

/**
 * The PKI manager's webhook (DESIGN.md §3): authenticates, verifies the signature, records every delivery
 * and processes each Idempotency-Key once. A repeated key is answered 200 and recorded as a duplicate.
 */
export class WebhookReceiver {
  private deliveries: WebhookDelivery[] = [];
  private processedKeys = new Set<string>();
  private failing: (WebhookFailSpec & { remaining: number }) | undefined;
  private seq = 0;

  constructor(private readonly options: WebhookReceiverOptions) {}

  /** The next `times` deliveries are answered `status` (0 = connection reset) and not processed. */
  fail(spec: WebhookFailSpec): void {
    this.failing = spec.times > 0 ? { ...spec, remaining: spec.times } : undefined;
  }

  list(): WebhookDelivery[] {
    return structuredClone(this.deliveries);
  }

  reset(): void {
    this.deliveries = [];
    this.processedKeys = new Set();
    this.failing = undefined;
  }

  async handle(ctx: RequestContext): Promise<void> {
    if (ctx.method !== 'POST') throw new HttpError(405, 'Use POST for /pki/webhook.', { headers: { allow: 'POST' } });
    const { stats } = this.options;
    stats.webhooksReceived += 1;
    const idempotencyKey = headerValue(ctx.req, 'idempotency-key')?.trim() || null;
    const record: WebhookDelivery = {
      seq: ++this.seq,
      receivedAt: new Date().toISOString(),
      headers: redactHeaders(ctx.req.headers),
      body: null,
      signatureValid: false,
      tokenValid: this.tokenValid(headerValue(ctx.req, 'authorization')),
      idempotencyKey,
      duplicate: false,
      status: 0,
    };
    let raw: Buffer;
    try {
      raw = await readBody(ctx.req, BODY_LIMIT);
    } catch (err) {
      record.status = err instanceof HttpError ? err.status : 0;
      this.keep(record);
      throw err;
    }
    record.signatureValid = signatureMatches(headerValue(ctx.req, 'x-signature-256'), raw, this.options.secret);
    const text = raw.toString('utf8');
    let parsed: { ok: true; value: unknown } | { ok: false };
    try {
      parsed = { ok: true, value: JSON.parse(text) };
    } catch {
      parsed = { ok: false };
    }
    record.body = parsed.ok ? parsed.value : text;

    if (this.failing) {
      const failing = this.failing;
      failing.remaining -= 1;
      if (failing.remaining <= 0) this.failing = undefined;
      record.status = failing.status;
      this.keep(record);
      if (failing.delayMs) await sleep(failing.delayMs, this.options.timers);
      if (failing.status === 0) {
        ctx.req.socket.destroy();
        return;
      }
      sendError(ctx.res, new HttpError(failing.status, `PKI receiver armed to fail: HTTP ${failing.status}.`), ctx.correlationId);
      return;
    }

    const outcome = this.decide(record, parsed);
    record.status = outcome.status;
    this.keep(record);
    if (outcome.error) {
      sendError(ctx.res, outcome.error, ctx.correlationId);
      return;
    }
    ctx.log.info({ idempotencyKey, duplicate: record.duplicate }, 'pki webhook received');
    sendJson(ctx.res, 200, { received: true, duplicate: record.duplicate, idempotencyKey });
  }

  private decide(record: WebhookDelivery, parsed: { ok: true; value: unknown } | { ok: false }): { status: number; error?: HttpError } {
    const fail = (status: number, message: string, errorCode?: string, fieldName?: string): { status: number; error: HttpError } => ({
      status,
      error: new HttpError(status, message, errorCode && fieldName ? { details: [{ errorCode, fieldName }] } : {}),
    });
    if (!record.tokenValid) return fail(401, 'Authorization must be Bearer <PKI token>.');
    if (!record.signatureValid) {
      return record.headers['x-signature-256'] === undefined
        ? fail(401, 'X-Signature-256 is required: sha256=<hex HMAC-SHA256 of the raw body>.')
        : fail(403, 'X-Signature-256 does not match the body.');
    }
    if (!parsed.ok) return fail(400, 'The body is not valid JSON.', 'JSON_INVALID', 'body');
    if (!record.idempotencyKey) return fail(400, 'Idempotency-Key is required.', 'FIELD_MISSING', 'Idempotency-Key');
    const body = parsed.value;
    const event = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).event : undefined;
    if (typeof event !== 'string' || !EVENTS.includes(event as PkiEvent)) {
      return fail(400, `event must be one of ${EVENTS.join(', ')}.`, 'FIELD_INVALID', 'event');
    }
    if (this.processedKeys.has(record.idempotencyKey)) {
      record.duplicate = true;
      this.options.stats.webhookDuplicates += 1;
      return { status: 200 };
    }
    this.processedKeys.add(record.idempotencyKey);
    this.options.stats.processedEvent(event);
    return { status: 200 };
  }

  private tokenValid(header: string | undefined): boolean {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    return match !== null && safeEqual(match[1], this.options.token);
  }

  private keep(record: WebhookDelivery): void {
    this.deliveries.push(record);
    if (this.deliveries.length > MAX_DELIVERIES) this.deliveries.splice(0, this.deliveries.length - MAX_DELIVERIES);
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ErrorBody, ErrorDetail } from './types';

/** One request as every handler sees it. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Sent as ININ-Correlation-Id and used as ErrorBody.contextId. */
  correlationId: string;
  log: Logger;
}

/** Genesys error codes by HTTP status; anything unlisted falls back by class. */
const CODES: Record<number, string> = {
  400: 'bad.request',
  401: 'authentication.required',
  403: 'missing.permissions',
  404: 'not.found',
  405: 'method.not.allowed',
  409: 'conflict',
  413: 'request.entity.too.large',
  429: 'too.many.requests.retry.after',
  500: 'internal.server.error',
  503: 'service.unavailable',
};

export function codeForStatus(status: number): string {
  return CODES[status] ?? (status >= 500 ? 'service.unavailable' : 'bad.request');
}

/** An error that already knows how to answer: thrown anywhere in a handler, written by the server wrapper. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    options: { code?: string; details?: ErrorDetail[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = options.code ?? codeForStatus(status);
    this.details = options.details ?? [];
    this.headers = options.headers ?? {};
  }
}

export function errorBody(status: number, message: string, contextId: string, code = codeForStatus(status), details: ErrorDetail[] = []): ErrorBody {
  return { message, code, status, contextId, details, errors: [] };
}

/** Writes JSON unless the response is already gone (socket reset, earlier answer). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    ...headers,
  });
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError, contextId: string): void {
  sendJson(res, err.status, errorBody(err.status, err.message, contextId, err.code, err.details), err.headers);
}

/**
 * Reads the body up to `limit` bytes. Past the limit it keeps draining (so the client reads a clean 413
 * instead of a reset) but stops buffering; far past it (16x) the socket is destroyed. With `timeoutMs`, a body
 * that has not fully arrived by then is a 408 and the socket is cut (slow-body clients hold nothing for long).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs?: number): Promise<Buffer> {
  const hardLimit = limit * 16;
  const tooLarge = (): HttpError => new HttpError(413, `request body is larger than ${limit} bytes`);
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > hardLimit) {
      req.destroy();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      fn();
    };
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        settle(() => reject(new HttpError(408, `request body did not arrive within ${timeoutMs} ms`, { code: 'request.timeout' })));
        req.socket.destroy();
      }, timeoutMs);
      timer.unref();
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > hardLimit) {
        req.destroy();
        settle(() => reject(tooLarge()));
      } else if (size <= limit) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => settle(() => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks)))));
    req.on('error', (err) => settle(() => reject(err)));
    req.on('close', () => settle(() => reject(new Error('request aborted by the client'))));
  });
}

/** Parses a JSON object body; anything else (invalid JSON, array, null, scalar) is a 400 with one detail. */
export function parseJsonObject(raw: Buffer, entityId?: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'The request body is not valid JSON.', {
      details: [{ errorCode: 'JSON_INVALID', fieldName: 'body', ...(entityId ? { entityId } : {}) }],
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'The request body must be a JSON object.', {
      details: [{ errorCode: 'BODY_INVALID', fieldName: 'body', ...(entityId ? { entityId } : {}) }],
    });
  }
  return value as Record<string, unknown>;
}

/** Constant-time string comparison: hashing first makes the lengths equal, so nothing leaks through them. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** The path without the query string; req.url is never fed to `new URL` (a `//host` path would change host). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Decodes one path segment; a malformed escape is the client's fault. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'The request path contains a malformed escape sequence.');
  }
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      resolve();
    }, ms);
    timers.add(timer);
  });
}

import { ApplicationFailure } from '@temporalio/common';

/**
 * Every way a platform call can fail, classified once (DESIGN.md §4 retry classes). Activities throw
 * `toFailure(err)`; the workflow reads only the failure `type`, never a message.
 */
export const FailureType = {
  RateLimited: 'RateLimited', // 429: retry after Retry-After
  Unavailable: 'PlatformUnavailable', // 5xx, timeouts, connection errors: exponential backoff
  VersionConflict: 'VersionConflict', // 409: the workflow re-reads and re-plans once
  BadRequest: 'PlatformBadRequest', // 400
  Unauthorized: 'PlatformUnauthorized', // 401
  Forbidden: 'PlatformForbidden', // 403
  NotFound: 'ClientNotFound', // 404
  Unexpected: 'PlatformUnexpected', // anything else: not retried, shown to the operator
} as const;
export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

const RETRYABLE = new Set<FailureTypeName>([FailureType.RateLimited, FailureType.Unavailable]);

export interface PlatformErrorInit {
  type: FailureTypeName;
  status?: number;
  code?: string;
  correlationId?: string;
  retryAfterMs?: number;
  details?: unknown[];
}

export class PlatformError extends Error {
  readonly type: FailureTypeName;
  readonly status?: number;
  readonly code?: string;
  readonly correlationId?: string;
  readonly retryAfterMs?: number;
  readonly details: unknown[];

  constructor(message: string, init: PlatformErrorInit) {
    super(message);
    this.name = 'PlatformError';
    this.type = init.type;
    this.status = init.status;
    this.code = init.code;
    this.correlationId = init.correlationId;
    this.retryAfterMs = init.retryAfterMs;
    this.details = init.details ?? [];
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.type);
  }
}

export function typeForStatus(status: number): FailureTypeName {
  if (status === 429) return FailureType.RateLimited;
  if (status === 409) return FailureType.VersionConflict;
  if (status === 400 || status === 413 || status === 422) return FailureType.BadRequest;
  if (status === 401) return FailureType.Unauthorized;
  if (status === 403) return FailureType.Forbidden;
  if (status === 404) return FailureType.NotFound;
  if (status === 408 || status >= 500) return FailureType.Unavailable;
  return FailureType.Unexpected;
}

/**
 * Parses `Retry-After` as delta-seconds or an HTTP date. Rounds up: the platform's rule is never to wait less
 * than it asks.
 */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (typeof value === 'number' && Number.isFinite(value)) return Math.max(0, Math.ceil(value * 1000));
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.max(0, Math.ceil(Number(trimmed) * 1000));
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000) * 1000);
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_SOCKET']);

/** A few hundred ms on top of Retry-After absorbs clock granularity between us and the platform's window. */
export const RETRY_AFTER_MARGIN_MS = 250;

/**
 * Wraps a classified error as the Temporal failure the activity throws: retry class as `nonRetryable`,
 * 429s with `nextRetryDelay` from Retry-After so the server's retry never comes early.
 */
export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof PlatformError) {
    const details = [{ status: err.status, code: err.code, correlationId: err.correlationId, details: err.details }];
    const nextRetryDelay = err.type === FailureType.RateLimited && err.retryAfterMs !== undefined ? err.retryAfterMs + RETRY_AFTER_MARGIN_MS : undefined;
    return ApplicationFailure.create({
      message: err.message,
      type: err.type,
      nonRetryable: !err.retryable,
      details,
      nextRetryDelay,
    });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) {
    return ApplicationFailure.create({ message: `platform unreachable (${code})`, type: FailureType.Unavailable, nonRetryable: false });
  }
  const message = err instanceof Error ? err.message : String(err);
  return ApplicationFailure.create({ message, type: FailureType.Unexpected, nonRetryable: false });
}

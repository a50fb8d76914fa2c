import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, PlatformError, RETRY_AFTER_MARGIN_MS, parseRetryAfter, toFailure, typeForStatus } from '../../src/genesys/errors';
import { classifySdkError } from '../../src/genesys/platform-client';
import { TokenCache } from '../../src/genesys/token-cache';

test('HTTP statuses map to the retry classes of DESIGN.md §4', () => {
  const cases: Array<[number, string, boolean]> = [
    [400, FailureType.BadRequest, false],
    [401, FailureType.Unauthorized, false],
    [403, FailureType.Forbidden, false],
    [404, FailureType.NotFound, false],
    [409, FailureType.VersionConflict, false],
    [429, FailureType.RateLimited, true],
    [500, FailureType.Unavailable, true],
    [502, FailureType.Unavailable, true],
    [503, FailureType.Unavailable, true],
    [504, FailureType.Unavailable, true],
  ];
  for (const [status, type, retryable] of cases) {
    assert.equal(typeForStatus(status), type, `status ${status}`);
    const failure = toFailure(new PlatformError('x', { type: typeForStatus(status), status }));
    assert.equal(failure.type, type);
    assert.equal(failure.nonRetryable, !retryable, `status ${status} retryable=${retryable}`);
  }
});

test('Retry-After in seconds and as an HTTP date, rounded up, never less than asked', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter('0'), 0);
  assert.equal(parseRetryAfter('1.2'), 1200);
  assert.equal(parseRetryAfter(['7']), 7000);
  const now = Date.parse('2026-11-24T10:00:00.000Z');
  assert.equal(parseRetryAfter('Tue, 24 Nov 2026 10:00:05 GMT', now), 5000);
  assert.equal(parseRetryAfter('Tue, 24 Nov 2026 09:59:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
});

test('a 429 becomes a retryable failure whose nextRetryDelay is at least Retry-After', () => {
  const err = classifySdkError({ status: 429, headers: { 'retry-after': '2' }, body: { code: 'too.many.requests.retry.after', message: 'slow down' } }, 'GET client a');
  assert.ok(err instanceof PlatformError);
  assert.equal(err.retryAfterMs, 2000);
  const failure = toFailure(err);
  assert.equal(failure.type, FailureType.RateLimited);
  assert.equal(failure.nonRetryable, false);
  assert.equal(failure.nextRetryDelay, 2000 + RETRY_AFTER_MARGIN_MS);
});

test('extended SDK errors keep status, Genesys code and correlation id; network errors are retryable', () => {
  const conflict = classifySdkError(
    { status: 409, headers: { 'inin-correlation-id': 'c-1' }, body: { code: 'conflict', message: 'stale version', status: 409 } },
    'PATCH client a',
  );
  assert.ok(conflict instanceof PlatformError);
  assert.equal(conflict.type, FailureType.VersionConflict);
  assert.equal(conflict.code, 'conflict');
  assert.equal(conflict.correlationId, 'c-1');
  assert.match(conflict.message, /HTTP 409 conflict: stale version/);

  const reset = classifySdkError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'GET client a');
  assert.ok(reset instanceof PlatformError);
  assert.equal(reset.type, FailureType.Unavailable);
  assert.equal(toFailure(reset).nonRetryable, false);

  const axiosTimeout = classifySdkError({ status: undefined, error: Object.assign(new Error('timeout of 5000ms exceeded'), { code: 'ECONNABORTED' }) }, 'GET client a');
  assert.ok(axiosTimeout instanceof PlatformError);
  assert.equal(axiosTimeout.type, FailureType.Unavailable);
});

test('an ApplicationFailure passes through toFailure unchanged', () => {
  const f = ApplicationFailure.nonRetryable('x', 'Custom');
  assert.equal(toFailure(f), f);
});

test('the token cache grants once for concurrent callers and renews before expiry', async () => {
  let now = 0;
  let grants = 0;
  const cache = new TokenCache(async () => {
    grants += 1;
    await new Promise((r) => setTimeout(r, 5));
    return { accessToken: `t${grants}`, expiresInSeconds: 600 };
  }, () => now);
  const tokens = await Promise.all(Array.from({ length: 20 }, () => cache.get()));
  assert.deepEqual(new Set(tokens), new Set(['t1']));
  assert.equal(grants, 1);
  now = 500_000; // 100 s before expiry: outside the 60 s renewal margin, the cached token serves
  assert.equal(await cache.get(), 't1');
  now = 541_000; // 59 s before expiry: renewed
  assert.equal(await cache.get(), 't2');
  cache.invalidate('t2');
  assert.equal(await cache.get(), 't3');
  assert.equal(cache.grants, 3);
});

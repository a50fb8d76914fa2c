import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RatePacer } from '../../src/genesys/rate-pacer';

/** A pacer on a fake clock whose sleeps advance the clock and are recorded. */
function pacer(maxWaitMs = 10_000) {
  let now = 1_000_000;
  const slept: number[] = [];
  const p = new RatePacer(() => now, maxWaitMs, async (ms) => {
    slept.push(ms);
    now += ms;
  });
  return { p, slept, advance: (ms: number) => (now += ms) };
}

test('without a rate-limit answer yet, requests go at once', async () => {
  const { p, slept } = pacer();
  assert.equal(p.delayMs(), 0);
  await p.beforeRequest();
  assert.deepEqual(slept, []);
});

test('room left in the window (counting requests still in flight) means no wait', async () => {
  const { p, slept } = pacer();
  p.answered({ allowed: 10, count: 7, resetSeconds: 5 });
  await p.beforeRequest(); // the 8th of 10
  await p.beforeRequest(); // the 9th
  await p.beforeRequest(); // the 10th: the window is now spent, counting the three still in flight
  assert.deepEqual(slept, []);
  // The 11th waits for the reset.
  await p.beforeRequest();
  assert.deepEqual(slept, [5_000]);
});

test('a spent window holds the next request until it resets, then lets it go', async () => {
  const { p, slept } = pacer();
  p.answered({ allowed: 5, count: 5, resetSeconds: 4 });
  assert.equal(p.delayMs(), 4_000);
  await p.beforeRequest();
  assert.deepEqual(slept, [4_000]);
  // After the reset the old answer says nothing about the new window.
  assert.equal(p.delayMs(), 0);
});

test('a wait longer than the cap sends anyway and leaves it to the platform\'s 429 and Retry-After', () => {
  const { p } = pacer(10_000);
  p.answered({ allowed: 5, count: 5, resetSeconds: 45 });
  assert.equal(p.delayMs(), 0);
});

test('time passing shortens the wait; an answer without headers keeps the last window', () => {
  const { p, advance } = pacer();
  p.answered({ allowed: 3, count: 3, resetSeconds: 8 });
  advance(3_000);
  assert.equal(p.delayMs(), 5_000);
  p.answered(undefined);
  assert.equal(p.delayMs(), 5_000);
  advance(5_000);
  assert.equal(p.delayMs(), 0);
});

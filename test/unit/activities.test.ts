import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import { Failure } from '../../src/contract';
import { FailureType, PlatformError } from '../../src/genesys/errors';
import { FakePlatform, fakeWorld, seedRotatable } from './fakes';

// The activities as a worker runs them (createActivities over its dependencies), with in-memory fakes for the
// platform, the PKI manager and the audit sink, inside Temporal's mock activity context.

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const mockEnv = (): MockActivityEnvironment => new MockActivityEnvironment(undefined, { logger: quiet });

/** Runs an activity in the mock context, keeping its result type. */
function runIn(env: MockActivityEnvironment) {
  return <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> => env.run(fn, ...args) as Promise<R>;
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, `an ApplicationFailure, got ${String(err)}`);
  return err;
}

test('the platform failure types the workflow matches come from the contract', () => {
  for (const name of Object.values(FailureType)) assert.ok((Object.values(Failure) as string[]).includes(name), `${name} is in src/contract/failures.ts`);
});

test('fetchClient and applyPins: a stale version is a non-retryable VersionConflict; a missing client ClientNotFound', async () => {
  const world = fakeWorld();
  const { next } = seedRotatable(world, 'a1');
  const acts = createActivities(world.deps);
  const env = { run: runIn(mockEnv()) };
  const client = await env.run(acts.fetchClient, 'a1');
  assert.equal(client.version, 1);
  const applied = await env.run(acts.applyPins, { clientId: 'a1', version: 1, certificateChain: next.certificatePem, pins: [next.pin] });
  assert.equal(applied.version, 2);
  assert.deepEqual(world.platform.clients.get('a1')!.pins, [next.pin]);
  const stale = await failureOf(env.run(acts.applyPins, { clientId: 'a1', version: 1, pins: [next.pin] }));
  assert.equal(stale.type, Failure.VersionConflict);
  assert.equal(stale.nonRetryable, true);
  const missing = await failureOf(env.run(acts.fetchClient, 'nobody'));
  assert.equal(missing.type, Failure.ClientNotFound);
});

test('a 429 is retryable and carries the Retry-After as the next retry delay', async () => {
  const world = fakeWorld();
  const platform = new FakePlatform();
  platform.getClient = async () => {
    throw new PlatformError('slow down', { type: FailureType.RateLimited, status: 429, retryAfterMs: 3000 });
  };
  const acts = createActivities({ ...world.deps, platform });
  const failure = await failureOf(mockEnv().run(acts.fetchClient, 'x'));
  assert.equal(failure.type, Failure.RateLimited);
  assert.equal(failure.nonRetryable, false);
  assert.ok(Number(failure.nextRetryDelay) >= 3000, String(failure.nextRetryDelay));
});

test('validateCertificate: a certificate of the trusted CA gives its pin; one of another CA is CertificateInvalid with the §5 code', async () => {
  const world = fakeWorld();
  const other = fakeWorld();
  const acts = createActivities(world.deps);
  const env = { run: runIn(mockEnv()) };
  const good = world.certs.issue('v1');
  const result = await env.run(acts.validateCertificate, { certificatePem: good.certificatePem });
  assert.deepEqual(result.leafPin, good.pin);
  const foreign = other.certs.issue('v1');
  const failure = await failureOf(env.run(acts.validateCertificate, { certificatePem: foreign.certificatePem }));
  assert.equal(failure.type, Failure.CertificateInvalid);
  assert.equal(failure.nonRetryable, true);
  assert.equal((failure.details?.[0] as { code: string }).code, 'SIGNATURE_INVALID');
});

test('restorePins puts the previous chain and pins back over our own write, and refuses to overwrite another writer', async () => {
  const world = fakeWorld();
  const { current, next } = seedRotatable(world, 'r1');
  const acts = createActivities(world.deps);
  const env = { run: runIn(mockEnv()) };
  const before = { certificateChain: current.certificatePem, pins: [current.pin] };
  const ours = { certificateChain: next.certificatePem, pins: [next.pin, { ...current.pin, role: 'fallback' as const }] };
  await env.run(acts.applyPins, { clientId: 'r1', version: 1, ...ours });
  const restored = await env.run(acts.restorePins, { clientId: 'r1', before, written: [ours] });
  assert.equal(restored.restored, true);
  assert.deepEqual(world.platform.clients.get('r1')!.pins, [current.pin]);
  // Again: already restored, nothing written.
  const patches = world.platform.patches.length;
  assert.equal((await env.run(acts.restorePins, { clientId: 'r1', before, written: [ours] })).restored, false);
  assert.equal(world.platform.patches.length, patches);

  // Another writer re-pinned the client: compensation leaves their pins.
  const theirs = world.certs.issue('r1');
  await env.run(acts.applyPins, { clientId: 'r1', version: world.platform.clients.get('r1')!.version, certificateChain: theirs.certificatePem, pins: [theirs.pin] });
  const refused = await failureOf(env.run(acts.restorePins, { clientId: 'r1', before, written: [ours] }));
  assert.equal(refused.type, 'ConcurrentModification');
  assert.deepEqual(world.platform.clients.get('r1')!.pins, [theirs.pin]);
});

test('notifyPki and writeAudit reach their sinks; a repeated audit record is written once', async () => {
  const world = fakeWorld();
  const acts = createActivities(world.deps);
  const env = { run: runIn(mockEnv()) };
  const body = { event: 'certificate_rotation' as const, clientId: 'n1', serviceId: 'n1', pins: [], workflowId: 'pin-rotation-n1', runId: 'r', latencyMs: 1, occurredAt: new Date().toISOString() };
  assert.deepEqual(await env.run(acts.notifyPki, body), { status: 200 });
  assert.deepEqual(world.pki.events, [body]);
  const record = { timestamp: body.occurredAt, clientId: 'n1', serviceId: 'n1', workflowId: 'pin-rotation-n1', runId: 'r', pins: [], latencyMs: 1, pinMatchRate: 1, status: 'finalized', errorCode: null, error: null };
  await env.run(acts.writeAudit, record);
  await env.run(acts.writeAudit, record);
  assert.equal(world.audit.records.length, 1);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureType, PlatformError } from '../../src/genesys/errors';
import type { PlatformPort } from '../../src/genesys/types';
import { startRotation } from '../../src/starter';
import { buildDeps } from '../../src/worker';
import { FAST_RETRY, harness, issue, seedClient, startOwnedWorker } from './harness';

const T = { timeout: 120_000 };

/**
 * The platform processes a PATCH but its answer never arrives (a timeout, a gateway reset, a worker crash after
 * the write): the retry is refused 409 by the rotation's own write. Found by `npm run chaos` (a short-overlap
 * rotation rolled back with VersionConflict after its finalize PATCH's answer was lost).
 */
function losingAnswers(platform: PlatformPort, lose: (n: number) => boolean): PlatformPort {
  let patches = 0;
  return {
    getClient: (id) => platform.getClient(id),
    listClients: platform.listClients?.bind(platform),
    // The drain decision reads the gateway's telemetry: without it a rotation keeps its fallback pin.
    getHandshakes: platform.getHandshakes?.bind(platform),
    async patchClient(id, patch) {
      const result = await platform.patchClient(id, patch);
      patches += 1;
      if (lose(patches)) throw new PlatformError(`PATCH client ${id}: ECONNRESET`, { type: FailureType.Unavailable, code: 'ECONNRESET' });
      return result;
    },
  };
}

/** Before the rotation's first PATCH reaches the platform, another writer PATCHes the client (same content, new version). */
function racedOnce(platform: PlatformPort): PlatformPort {
  let raced = false;
  return {
    getClient: (id) => platform.getClient(id),
    listClients: platform.listClients?.bind(platform),
    // The drain decision reads the gateway's telemetry: without it a rotation keeps its fallback pin.
    getHandshakes: platform.getHandshakes?.bind(platform),
    async patchClient(id, patch) {
      if (!raced) {
        raced = true;
        const current = await platform.getClient(id);
        await platform.patchClient(id, { version: current.version, pins: current.pins });
      }
      return platform.patchClient(id, patch);
    },
  };
}

async function withLosingWorker<T>(name: string, lostPatch: number, fn: (taskQueue: string) => Promise<T>, opts: { race?: boolean } = {}): Promise<T> {
  const h = harness();
  const taskQueue = `${h.taskQueue}-lost-${name}`;
  const deps = buildDeps(h.config);
  const inner = opts.race ? racedOnce(deps.platform) : deps.platform;
  const owned = await startOwnedWorker({
    config: { ...h.config, env: { ...h.config.env, TEMPORAL_TASK_QUEUE: taskQueue } },
    connection: h.env.nativeConnection,
    workflowBundle: h.bundle,
    logger: h.logger,
    deps: { ...deps, platform: losingAnswers(inner, (n) => n === lostPatch) },
  });
  try {
    return await fn(taskQueue);
  } finally {
    await owned.stop();
  }
}

export function lostAnswerSuite(): void {
  test('a lost answer to the restore PATCH: the retry finds the client restored and the rotation ends rolled_back', T, async () => {
    const h = harness();
    const id = 'lost-answer-restore';
    const seeded = await seedClient(id);
    const next = await issue(id);
    // The PKI manager refuses the rotation: the saga restores, and the restore's answer (PATCH #2) is lost.
    await h.admin.failWebhooks({ status: 400, times: 1 });
    const result = await withLosingWorker('restore', 2, async (taskQueue) => {
      const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, taskQueue);
      return handle.result();
    });
    assert.equal(result.status, 'rolled_back', JSON.stringify(result.error));
    assert.equal(result.error?.code, 'PkiRejected');
    const after = await h.admin.getClient(id);
    assert.equal(after.certificateChain, seeded.certificatePem);
    assert.deepEqual(after.pins.map((p) => `${p.role}:${p.sha256Spki}`), [`primary:${seeded.spki}`]);
    // Seed, apply, restore: the retried restore wrote nothing more.
    assert.equal(after.version, 3);
  });

  test('another writer, then a lost answer to the re-planned apply: the second 409 is our own write and the rotation finalizes', T, async () => {
    const h = harness();
    const id = 'lost-answer-after-race';
    await seedClient(id);
    const next = await issue(id);
    // PATCH #1 (ours) is refused 409 by the other writer; the re-planned PATCH lands and its answer is lost.
    const result = await withLosingWorker(
      'race',
      1,
      async (taskQueue) => {
        const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, taskQueue);
        return handle.result();
      },
      { race: true },
    );
    assert.equal(result.status, 'finalized', JSON.stringify(result.error));
    const after = await h.admin.getClient(id);
    assert.deepEqual(after.pins.map((p) => `${p.role}:${p.sha256Spki}`), [`primary:${next.info.sha256Spki}`]);
    // Seed, the other writer, apply, finalize: nothing written twice.
    assert.equal(after.version, 4);
  });

  for (const [what, lostPatch] of [
    ['apply', 1],
    ['finalize', 2],
  ] as const) {
    test(`a lost answer to the ${what} PATCH: the retry's 409 meets its own write and the rotation finalizes`, T, async () => {
      const h = harness();
      const taskQueue = `${h.taskQueue}-lost-${what}`;
      const deps = buildDeps(h.config);
      const owned = await startOwnedWorker({
        config: { ...h.config, env: { ...h.config.env, TEMPORAL_TASK_QUEUE: taskQueue } },
        connection: h.env.nativeConnection,
        workflowBundle: h.bundle,
        logger: h.logger,
        deps: { ...deps, platform: losingAnswers(deps.platform, (n) => n === lostPatch) },
      });
      try {
        const id = `lost-answer-${what}`;
        await seedClient(id);
        const next = await issue(id);
        const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, taskQueue);
        const result = await handle.result();
        assert.equal(result.status, 'finalized', JSON.stringify(result.error));
        const after = await h.admin.getClient(id);
        assert.deepEqual(
          after.pins.map((p) => `${p.role}:${p.sha256Spki}`),
          [`primary:${next.info.sha256Spki}`],
        );
        // Seed, apply, finalize: the lost answer cost no extra write.
        assert.equal(after.version, 3);
      } finally {
        await owned.stop();
      }
    });
  }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusQuery, type RotationResult, type RotationStatus } from '../../src/contract';
import { startRotation } from '../../src/starter';
import { FAST_RETRY, harness, issue, seedClient } from './harness';
import { recordedWorkflowIds } from './saga.suite';

const T = { timeout: 120_000 };

/**
 * Drain-aware finalize on the real stack (DESIGN.md §4): a field client of the emulator makes real mTLS handshakes
 * and moves to the new certificate a set delay after the PKI manager processed `certificate_rotation`. The rotation
 * must keep the fallback pin until the gateway's telemetry shows the old certificate quiet.
 */
export function drainSuite(): void {
  test('a field client that deploys late keeps every handshake accepted: the rotation waits in draining and finalizes only after it moved', T, async () => {
    const h = harness();
    const id = 'drain-late-deployer';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const deployDelayMs = 4000;
    await h.admin.startFieldClient({ clientId: id, handshakesPerSecond: 5, deployDelayMs });
    try {
      const started = Date.now();
      const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '1s', drainQuiet: '2s', retry: FAST_RETRY }, h.taskQueue);
      recordedWorkflowIds.push(handle.workflowId);
      const phases: Array<{ phase: string; at: number }> = [];
      let draining: RotationStatus | undefined;
      const ended = handle.result().then(
        (r) => r as RotationResult,
        (e: unknown) => {
          throw e;
        },
      );
      let done = false;
      void ended.finally(() => (done = true)).catch(() => undefined);
      while (!done) {
        try {
          const s = await handle.query(statusQuery);
          if (phases.at(-1)?.phase !== s.phase) phases.push({ phase: s.phase, at: Date.now() - started });
          if (s.phase === 'draining' && s.drain?.fallbackLastSeen && !draining) draining = s;
        } catch {
          // before the first workflow task
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const result = await ended;
      const status = await handle.query(statusQuery);
      assert.equal(result.status, 'finalized', JSON.stringify(result.error));
      assert.ok(draining, `phase draining observed with fallback traffic (phases ${JSON.stringify(phases)})`);
      assert.equal(draining.drain?.state, 'draining');
      assert.ok(draining.drain!.fallbackAccepted > 0);

      const [field] = (await h.admin.fieldClients()).filter((f) => f.clientId === id);
      const moved = field.deployments.find((d) => d.sha256Spki === next.info.sha256Spki);
      assert.ok(moved, `the field client moved to the new certificate: ${JSON.stringify(field.deployments)}`);
      const finalizingAt = Date.parse(status.timestamps.finalizing!);
      const overlapEnd = Date.parse(status.timestamps.overlap!) + 1000;
      // Finalized only after the client moved, and drainQuiet after its last handshake with the old certificate.
      assert.ok(finalizingAt >= Date.parse(moved.at), `finalize ${status.timestamps.finalizing} after the move ${moved.at}`);
      assert.ok(finalizingAt - Date.parse(status.drain!.fallbackLastSeen!) >= 2000, `quiet for drainQuiet: ${status.drain!.fallbackLastSeen} → ${status.timestamps.finalizing}`);
      assert.ok(finalizingAt > overlapEnd + 1000, 'the drain held the fallback past the overlap timer');

      // No lockout: wait for a few handshakes after finalize, every one accepted.
      const acceptedAtEnd = field.accepted;
      for (let i = 0; i < 100; i++) {
        const [f] = (await h.admin.fieldClients()).filter((x) => x.clientId === id);
        if (f.accepted >= acceptedAtEnd + 5) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const [after] = (await h.admin.fieldClients()).filter((x) => x.clientId === id);
      assert.equal(after.rejected, 0, `no handshake rejected: ${JSON.stringify(after.lastRejection)}`);
      assert.ok(after.accepted >= acceptedAtEnd + 5);

      // The pin match rate is the gateway's: every handshake since Apply matched an active pin.
      const telemetry = await h.admin.handshakes(id, status.timestamps.applied!);
      assert.equal(telemetry.rejected, 0);
      assert.equal(result.pinMatchRate, 1);
      assert.equal(result.pinMatch?.rejected, 0);
      assert.ok(result.pinMatch!.accepted > 0 && result.pinMatch!.accepted <= telemetry.accepted, `${result.pinMatch!.accepted} of ${telemetry.accepted}`);
      const oldPin = telemetry.byPin.find((p) => p.sha256Spki === seeded.spki);
      assert.equal(status.drain!.fallbackAccepted, oldPin?.accepted, 'fallback handshakes as the gateway counted them');
      process.stderr.write(
        `[drain] phases ${phases.map((p) => `${p.phase}@${(p.at / 1000).toFixed(1)}s`).join(' ')}; moved at +${((Date.parse(moved.at) - started) / 1000).toFixed(1)}s; ` +
          `last old handshake +${((Date.parse(status.drain!.fallbackLastSeen!) - started) / 1000).toFixed(1)}s; finalizing +${((finalizingAt - started) / 1000).toFixed(1)}s; ` +
          `handshakes ${telemetry.accepted} accepted / ${telemetry.rejected} rejected; pin match ${result.pinMatchRate} (${result.pinMatch!.accepted} counted)\n`,
      );
    } finally {
      await h.admin.stopFieldClients(id);
    }
  });
}

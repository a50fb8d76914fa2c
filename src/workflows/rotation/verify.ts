import { pinMatchRate } from '../../pins/plan';
import type { Pin } from '../../pins/types';
import type { HandshakeReading } from '../../activities';
import { measurePinMatch, readTelemetry } from './drain';
import { RollbackRequested } from './errors';
import type { RotationRun } from './run';

/**
 * The platform holds exactly the planned pins (the PATCH answer is its own statement of what is live) and, when
 * probe keys are configured, mTLS handshakes with the new and (while pinned) the old certificate succeed. The pin
 * match rate is measured from the gateway's handshake telemetry since Apply (drain.ts), not from this check: by a
 * reading taken now, or `current` (lean runs, after finalize: the reading the decision to finalize was taken on, when
 * it was fresh then; a wait for the platform's rate limit in between does not cost another call).
 */
export async function verify(run: RotationRun, actual: Pin[], planned: Pin[], current?: HandshakeReading): Promise<void> {
  const { input, state } = run;
  let checks = planned.length;
  let passed = Math.round(pinMatchRate(planned, actual) * planned.length);
  const probesBefore = run.probes.count;
  const probe = input.probe;
  if (probe?.newKeyPath) {
    const res = await run.acts.local.probeHandshake({ clientId: input.clientId, certificatePem: input.certificatePem, keyPath: probe.newKeyPath });
    checks += 1;
    if (res.accepted) passed += 1;
    run.probes.count += 1;
    if (res.accepted) run.probes.accepted += 1;
  }
  // The old certificate must keep working only while its fallback pin is there.
  const oldStillPinned = actual.some((p) => p.role === 'fallback');
  if (probe?.oldKeyPath && oldStillPinned && run.before?.certificateChain) {
    const res = await run.acts.local.probeHandshake({ clientId: input.clientId, certificatePem: run.before.certificateChain, keyPath: probe.oldKeyPath });
    checks += 1;
    if (res.accepted) passed += 1;
    run.probes.count += 1;
    if (res.accepted) {
      run.probes.accepted += 1;
      run.probes.oldAccepted += 1;
      run.probes.lastOldProbeAt = Date.now();
    }
  }
  if (run.drainAware) {
    // Measured, never a constant: null until the client (or a probe) made a handshake since Apply.
    // Not when this check made probe handshakes since (they are in the gateway's count).
    const reading = (run.probes.count === probesBefore ? current : undefined) ?? (await readTelemetry(run, { draining: false, atMaxOverlap: false }));
    if (!reading) measurePinMatch(run, undefined);
  } else {
    state.status.pinMatchRate = checks === 0 ? 0 : passed / checks;
  }
  if (passed < checks) {
    throw new RollbackRequested('VERIFICATION_FAILED', `verification passed ${passed} of ${checks} checks (pins and probe handshakes)`);
  }
}

/** 4. Verify the applied pins. */
export async function verifyApplied(run: RotationRun): Promise<void> {
  run.state.enter('verifying');
  await verify(run, run.applied!.pins, run.state.status.plannedPins);
  run.state.status.latencyMs = Date.now() - run.startedAt;
}

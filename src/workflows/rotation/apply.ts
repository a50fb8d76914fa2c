import { pinsEqual, planRotation } from '../../pins/plan';
import { patchWithReplan } from './conflict';
import type { RotationRun } from './run';

/** 3. Apply: PATCH the chain and the planned pins with the version preflight read. From here on, the saga restores. */
export async function apply(run: RotationRun): Promise<void> {
  const { state, input } = run;
  const snapshot = run.before!;
  const leafPin = run.leafPin!;
  state.enter('applying');
  run.written.push({ certificateChain: input.certificatePem, pins: state.status.plannedPins });
  const applied = await patchWithReplan(run, { version: snapshot.version, certificateChain: input.certificatePem, pins: state.status.plannedPins }, (fresh) => {
    if (fresh.certificateChain !== snapshot.certificateChain || !pinsEqual(fresh.pins, snapshot.pins)) {
      // Another writer changed the client since preflight: plan from what is there now.
      state.status.pinsBefore = fresh.pins;
      run.before = fresh;
    }
    const replanned = planRotation(fresh.pins, leafPin);
    run.written.push({ certificateChain: input.certificatePem, pins: replanned });
    return replanned;
  });
  run.applied = applied;
  state.status.pins = applied.pins;
  state.status.timestamps.applied = new Date().toISOString();
}

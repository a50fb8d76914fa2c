import { planFinalize } from '../../pins/plan';
import { patchWithReplan } from './conflict';
import { notify, type RotationRun } from './run';
import { freshReading } from './drain';
import { verify } from './verify';

/** 7. Finalize: drop the fallback, keep primary (+ backup), verify, tell the PKI manager. */
export async function finalize(run: RotationRun): Promise<void> {
  const { state, input } = run;
  const applied = run.applied!;
  state.enter('finalizing');
  // The reading this decision was taken on, if fresh now (lean runs): it serves the check after the PATCH.
  const current = freshReading(run);
  const finalPins = planFinalize(applied.pins);
  state.status.plannedPins = finalPins;
  run.written.push({ certificateChain: input.certificatePem, pins: finalPins });
  const finalized = await patchWithReplan(run, { version: applied.version, certificateChain: undefined, pins: finalPins }, (fresh) => {
    const replanned = planFinalize(fresh.pins);
    run.written.push({ certificateChain: fresh.certificateChain, pins: replanned });
    return replanned;
  });
  state.status.pins = finalized.pins;
  await verify(run, finalized.pins, state.status.plannedPins, current);
  await notify(run, 'rotation_finalized', finalized.pins);
  state.status.timestamps.finalized = new Date().toISOString();
}

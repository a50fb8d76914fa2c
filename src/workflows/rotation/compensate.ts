import { CancellationScope, isCancellation } from '@temporalio/workflow';
import type { RotationError, RotationResult } from '../../contract';
import { errorOf, Refusal } from './errors';
import { finish, notify, type RotationRun } from './run';

/**
 * Ends a run that failed, was refused, rolled back or cancelled. Nothing written: refused or failed as is.
 * Otherwise the saga restores the pre-rotation chain and pins, in a scope cancellation cannot cut short.
 */
export async function compensate(run: RotationRun, err: unknown): Promise<RotationResult> {
  const error = errorOf(err);
  run.state.status.lastError = error;
  if (run.written.length === 0) {
    // Nothing was written: a refusal, or a failure before Apply.
    const status = err instanceof Refusal ? 'refused' : isCancellation(err) ? 'refused' : 'failed';
    const result = await finish(run, status, error);
    if (isCancellation(err)) throw err;
    return result;
  }
  const outcome = await CancellationScope.nonCancellable(() => restore(run, error));
  if (isCancellation(err)) throw err;
  return outcome;
}

async function restore(run: RotationRun, error: RotationError): Promise<RotationResult> {
  const { state } = run;
  state.enter('compensating');
  let landed: boolean;
  try {
    const restored = await run.acts.compensation.restorePins({
      clientId: run.input.clientId,
      before: { certificateChain: run.before?.certificateChain ?? '', pins: run.before?.pins ?? [] },
      written: run.written,
    });
    state.status.pins = restored.client.pins;
    state.status.timestamps.rolledBack = new Date().toISOString();
    if (restored.restored || run.announced) {
      try {
        await notify(run, 'rotation_rolled_back', restored.client.pins);
      } catch (notifyErr) {
        // The platform holds the previous pins again: that is the outcome. The PKI manager not hearing of it is a
        // warning for its operators, never a reason to tell ours to restore pins by hand (DESIGN.md §4).
        const refused = errorOf(notifyErr);
        run.warnings.push(`PKI_NOTICE_REFUSED: the PKI manager did not accept rotation_rolled_back: ${refused.code}: ${refused.message}`.slice(0, 500));
      }
    }
    // The platform holds the previous chain and pins again. If a write of ours is known to have landed (its
    // answer came back, or the PKI manager was told), this is a rollback, even when restorePins found it already
    // restored (an earlier attempt whose answer was lost). Otherwise the write never landed: nothing changed.
    landed = restored.restored || run.announced || state.status.timestamps.applied !== undefined;
  } catch (compErr) {
    const compError = errorOf(compErr);
    return finish(run, 'failed', { code: 'COMPENSATION_FAILED', message: `${error.code}: ${error.message}; compensation failed: ${compError.code}: ${compError.message}` });
  }
  // Outside the try: a failed run ends by throwing (a failed workflow), which is not a failed compensation.
  return finish(run, landed ? 'rolled_back' : 'failed', error);
}

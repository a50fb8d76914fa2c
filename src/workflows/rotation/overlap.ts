import { condition } from '@temporalio/workflow';
import { overlapAndDrain } from './drain';
import type { RotationRun } from './run';

/**
 * 6. Overlap: a durable timer during which the fallback pin keeps clients on the old certificate working. It ends
 * by itself, or early by `finalizeNow` or `rollback`; then the finalize policy decides (drain.ts). Runs recorded
 * before drain-aware finalize replay the plain timer.
 */
export async function overlap(run: RotationRun): Promise<void> {
  if (run.drainAware) return overlapAndDrain(run);
  if (run.overlapMs <= 0) return;
  const { state, actions } = run;
  state.status.overlapEndsAt = new Date(Date.now() + run.overlapMs).toISOString();
  state.status.status = 'rotated';
  state.enter('overlap');
  await condition(() => actions.finalizeRequested || actions.rollbackReason !== undefined, run.overlapMs, { summary: 'overlap window' });
}

import { patched } from '@temporalio/workflow';
import { Failure, sameChain } from '../../contract';
import type { OAuthClientState } from '../../genesys/types';
import { pinsEqual } from '../../pins/plan';
import type { Pin } from '../../pins/types';
import { failureOf } from '../failure-of';
import { errorOf } from './errors';
import { patchedBefore, type ConflictPolicy, type RotationRun } from './run';

/** 409s one PATCH met under `conflict-rounds-v1` before the rotation gave up on it. */
const MAX_CONFLICT_ROUNDS = 3;

/** The client holds exactly `pins` (and `certificateChain`, when the write set one). */
function holdsWrite(client: OAuthClientState, certificateChain: string | undefined, pins: Pin[]): boolean {
  return pinsEqual(client.pins, pins) && (certificateChain === undefined || sameChain(client.certificateChain, certificateChain));
}

/**
 * How this run treats a second 409, by the marker its history carries. Patch ids are never renamed, so the
 * rule that ran is recognised on replay:
 * - `own-write-after-replan-v1` (today): re-read after every 409, re-plan once, then give up;
 * - `conflict-rounds-v1` (recorded for a while, then replaced): re-read and re-plan up to 3 times;
 * - neither (the first version): give up at the second 409 without reading.
 * A new run records the first. While replaying, `patched` answers true only for a marker the history holds, and
 * the first check records nothing when it answers false, so a run recorded under either id replays as it ran.
 */
function conflictPolicy(run: RotationRun): ConflictPolicy {
  if (run.conflictPolicy) return run.conflictPolicy;
  if (patchedBefore(run, 'own-write-after-replan-v1')) return (run.conflictPolicy = 'reread-after-replan');
  if (patched('conflict-rounds-v1')) return (run.conflictPolicy = 'rounds');
  return 'once';
}

/**
 * PATCH with the version we hold; on 409 re-read, re-plan with `replan` and try once more (DESIGN.md §4). Every
 * 409 is re-read first, because it can be our own write: a retried PATCH whose first attempt landed (its answer
 * lost to a timeout, a reset or a worker crash) is refused by that write, and then the platform already holds
 * what we planned, so that is the result.
 */
export async function patchWithReplan(
  run: RotationRun,
  write: { version: number; certificateChain: string | undefined; pins: Pin[] },
  replan: (fresh: OAuthClientState) => Pin[],
): Promise<OAuthClientState> {
  const { certificateChain } = write;
  let attempt = { version: write.version, pins: write.pins };
  for (let conflicts = 0; ; conflicts++) {
    try {
      return await run.acts.platform.applyPins({ clientId: run.input.clientId, version: attempt.version, certificateChain, pins: attempt.pins });
    } catch (err) {
      if (failureOf(err)?.type !== Failure.VersionConflict) throw err;
      const policy = conflicts >= 1 ? conflictPolicy(run) : undefined;
      if (policy === 'once' || (policy === 'rounds' && conflicts >= MAX_CONFLICT_ROUNDS)) throw err;
      run.state.status.lastError = errorOf(err);
      const fresh = await run.acts.platform.fetchClient(run.input.clientId);
      if (holdsWrite(fresh, certificateChain, attempt.pins) && patchedBefore(run, 'own-write-on-conflict-v1')) return fresh;
      // Another writer again, after the one re-plan: give up rather than race them.
      if (policy === 'reread-after-replan') throw err;
      attempt = { version: fresh.version, pins: replan(fresh) };
      run.state.status.plannedPins = attempt.pins;
    }
  }
}

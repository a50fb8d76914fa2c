import { CancellationScope, CancelledFailure, continueAsNew, isCancellation, setHandler } from '@temporalio/workflow';
import { childRotationSignal, fleetProgressQuery, type FleetInput, type FleetSummary } from '../../contract';
import { FleetRun } from './run';
import { validate } from './settings';

/**
 * Rotates many clients: one `pinRotation` child per client (id `pin-rotation-{clientId}`, so it never runs beside
 * a rotation started elsewhere), at most `concurrency` in flight. `all` pages through the platform's clients and
 * skips those that are not active or not mTLS-required. After `continueAsNewEvery` children (or when the server
 * suggests it) the run stops launching, lets its children finish and continues as new with the remaining clients
 * and the counts so far, so history stays bounded for any fleet size.
 */
export async function fleetRotation(rawInput: FleetInput): Promise<FleetSummary> {
  const run = new FleetRun(rawInput);
  setHandler(fleetProgressQuery, () => run.progress());
  setHandler(childRotationSignal, (e) => run.onChildEvent(e));
  const settings = validate(rawInput);
  run.configure(settings);

  const root = CancellationScope.current();
  run.showDetails();
  await Promise.all(Array.from({ length: settings.concurrency }, () => run.lane(root)));
  // Children live in their overlap or drain hold no slot; when nothing is left to start, the fleet follows them.
  if (!root.consideredCancelled && run.nothingLeftToStart()) {
    try {
      await run.awaitFollowed();
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
  }

  if (root.consideredCancelled) {
    await run.cancelFollowed();
    run.state = 'cancelled';
    run.showDetails();
    throw new CancelledFailure('the fleet rotation was cancelled; children in flight were cancelled and compensated');
  }
  const next = run.carryOver();
  if (next) return continueAsNew<typeof fleetRotation>({ ...rawInput, clients: next.remaining, carry: next.carry });
  run.state = 'done';
  run.showDetails();
  return { ...run.progress(), endedAt: new Date().toISOString() };
}

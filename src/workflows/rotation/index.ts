import { continueAsNew, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { statusQuery, type RotationInput, type RotationResult } from '../../contract';
import { OperatorActions } from './actions';
import { activityProxies } from './activities';
import { apply } from './apply';
import { admitRequester, awaitApproval } from './approval';
import { compensate } from './compensate';
import { errorOf } from './errors';
import { finalize } from './finalize';
import { DEFAULT_TUNING, SERVICE_ID_MAX_LENGTH, shownText, validateInput } from './input';
import { overlap } from './overlap';
import { preflight } from './preflight';
import { drainAware, drainSettings, finalizeRefusal } from './drain';
import { checkRollback, finish, LEAN_PATCH, patchedBefore, signalFleet, type RotationRun } from './run';
import { RotationState } from './state';
import { sync } from './sync';
import { Announcements } from './upstream';
import { verifyApplied } from './verify';

export { Refusal } from './errors';
export { validateInput } from './input';

/**
 * The rotation of DESIGN.md §4: preflight → approval → apply → verify → sync → overlap → finalize, with a saga
 * that restores the pre-rotation chain and pins on any failure after Apply, a `rollback` or cancellation.
 */
export async function pinRotation(rawInput: RotationInput): Promise<RotationResult> {
  let input = rawInput;
  const announcements = new Announcements(() => input);
  announcements.register();
  input = await announcements.inputFrom(rawInput);
  const result = await rotate(input);
  const next = announcements.next(input);
  if (next) {
    // A newer certificate arrived while this rotation ran: rotate to it next, under the same workflow id.
    await continueAsNew<typeof pinRotation>({ ...input, certificatePem: next.certificatePem, serviceId: next.serviceId ?? input.serviceId });
  }
  return result;
}

function startRun(rawInput: RotationInput): RotationRun {
  const info = workflowInfo();
  const startedAt = Date.now();
  // Bounded before anything records them (search attributes, details, audit): an oversized id is refused, not fatal.
  const clientId = shownText(rawInput?.clientId, 128);
  const serviceId = shownText(rawInput?.serviceId, SERVICE_ID_MAX_LENGTH);
  // Runs recorded before the search attributes existed replay without the upserts.
  const lean = patched(LEAN_PATCH);
  const withSearchAttributes = patchedBefore({ lean }, 'search-attributes-v1');
  const state = new RotationState({ workflowId: info.workflowId, runId: info.runId, clientId, serviceId, startedAt }, withSearchAttributes);
  const actions = new OperatorActions(state, () => rawInput?.approval?.required === true, lean);
  setHandler(statusQuery, () => state.status);
  const run: RotationRun = {
    state,
    actions,
    acts: activityProxies(DEFAULT_TUNING, lean),
    lean,
    startedAt,
    input: rawInput,
    serviceId,
    overlapMs: 0,
    approvalTimeoutMs: 0,
    written: [],
    announced: false,
    drainAware: false,
    probes: { count: 0, accepted: 0, oldAccepted: 0 },
    warnings: [],
    liveAnnounced: false,
    markLive: () => undefined,
    announceLive: async () => undefined,
  };
  run.markLive = () => {
    state.status.timestamps.live ??= new Date().toISOString();
  };
  run.announceLive = async () => {
    if (run.liveAnnounced) return;
    run.liveAnnounced = true;
    run.markLive();
    await signalFleet(run, 'live', 'rotated');
  };
  // finalizeNow needs `force` while the last telemetry reading shows the old certificate in use.
  actions.finalizeGuard = (args) => (run.drainAware ? finalizeRefusal(run, args) : undefined);
  actions.register();
  return run;
}

async function rotate(rawInput: RotationInput): Promise<RotationResult> {
  const run = startRun(rawInput);
  try {
    const validated = validateInput(rawInput);
    Object.assign(run, { input: validated.input, overlapMs: validated.overlapMs, approvalTimeoutMs: validated.approvalTimeoutMs, acts: activityProxies(validated.tuning, run.lean) });
    run.drainAware = drainAware(run);
    if (run.drainAware) run.drain = drainSettings(run.input, run.overlapMs);
  } catch (err) {
    return finish(run, 'refused', errorOf(err));
  }
  run.serviceId = run.input.serviceId ?? run.input.clientId;
  run.state.status.serviceId = run.serviceId;
  run.state.enter('preflight');
  try {
    await admitRequester(run);
    await preflight(run);
    if (run.input.dryRun) {
      run.state.status.pins = run.before!.pins;
      return await finish(run, 'dry_run', null);
    }
    await awaitApproval(run);
    await apply(run);
    await verifyApplied(run);
    checkRollback(run);
    await sync(run);
    checkRollback(run);
    await overlap(run);
    checkRollback(run);
    await finalize(run);
    return await finish(run, 'finalized', null);
  } catch (err) {
    return compensate(run, err);
  }
}

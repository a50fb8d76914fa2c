import { ApplicationFailure, CancellationScope, getExternalWorkflowHandle, log, patched, workflowInfo } from '@temporalio/workflow';
import type { HandshakeReading, RestoreInput } from '../../activities';
import { childRotationSignal, Failure, FLEET_ID_PREFIX, type RotationError, type RotationInput, type RotationOutcome, type RotationResult } from '../../contract';
import type { OAuthClientState } from '../../genesys/types';
import type { Pin } from '../../pins/types';
import type { OperatorActions } from './actions';
import type { RotationActivities } from './activities';
import type { DrainSettings } from './drain';
import { RollbackRequested } from './errors';
import type { RotationState } from './state';

/** Which 409 rule this run follows (see conflict.ts); decided at its first repeated conflict. */
export type ConflictPolicy = 'reread-after-replan' | 'rounds' | 'once';

/** Everything one rotation run knows, handed from phase to phase. */
export interface RotationRun {
  readonly state: RotationState;
  readonly actions: OperatorActions;
  acts: RotationActivities;
  /** Started after LEAN_PATCH: fewer tasks per rotation (see LEAN_PATCH). */
  readonly lean: boolean;
  readonly startedAt: number;
  input: RotationInput;
  serviceId: string;
  overlapMs: number;
  approvalTimeoutMs: number;
  /** The client as preflight read it (or as a re-plan after another writer found it). */
  before?: OAuthClientState;
  /** The client as the apply PATCH left it. */
  applied?: OAuthClientState;
  leafPin?: Pin;
  /** Every chain and pin set this run may have written, so compensation can tell our writes from others'. */
  readonly written: RestoreInput['written'];
  /** The PKI manager was told of the new pins. */
  announced: boolean;
  conflictPolicy?: ConflictPolicy;
  // Drain-aware finalize and the measured pin match rate (DESIGN.md §4).
  /** False while replaying runs recorded before drain-aware finalize (DRAIN_PATCH). */
  drainAware: boolean;
  drain?: DrainSettings;
  /** Probe handshakes this run made (the gateway counts them too), and the last telemetry reading. */
  probes: ProbeTally;
  /** Things that went wrong without changing the outcome. */
  readonly warnings: string[];
  /** Records when the pins went live (status timestamp), once. */
  markLive: () => void;
  /** Marks live and tells a fleet parent so (once), so it frees the slot while this run waits. */
  announceLive: () => Promise<void>;
  /** A fleet parent was told this run is live. */
  liveAnnounced: boolean;
}

export interface ProbeTally {
  count: number;
  accepted: number;
  /** Accepted handshakes with the old certificate, and when the last one ended (workflow time, ms). */
  oldAccepted: number;
  lastOldProbeAt?: number;
  lastReading?: HandshakeReading;
  /** When the last reading was taken (workflow time, ms). */
  lastReadAt?: number;
}

/** Runs recorded before children told their fleet they were live replay without the signals. */
const FLEET_EVENTS_PATCH = 'fleet-child-events-v1';
/**
 * Runs started after this patch take fewer tasks (docs/architecture.md, "Tasks per rotation"): preflight reads the
 * client and validates the chain for it in one activity; the PKI webhook and the audit record run as local
 * activities (activities.ts); a telemetry reading younger than FRESH_READING_MS is not taken again (drain.ts); a
 * fleet child tells its fleet it is live only before it waits (overlap, drain or an operator), and that it ended only
 * when it said it was live (the fleet reads the others' outcome from their result). Runs recorded before replay as
 * they were.
 */
export const LEAN_PATCH = 'lean-rotation-v1';

/**
 * `patched(id)` for a patch older than LEAN_PATCH. A lean run was started by code with every earlier patch in place,
 * so it takes their paths without asking: no marker (and no TemporalChangeVersion upsert) each. Runs recorded
 * before LEAN_PATCH ask, and replay as they ran.
 */
export function patchedBefore(run: { lean: boolean }, id: string): boolean {
  return run.lean || patched(id);
}
/** Runs recorded before a failed rotation failed its workflow complete with the result instead. */
const FAILED_WORKFLOW_PATCH = 'failed-run-fails-workflow-v1';

/**
 * A child of a fleet tells the fleet (by workflow id: whichever run of it is current) that it is live or ended.
 * Best effort: a fleet that is gone changes nothing for the rotation.
 */
export async function signalFleet(run: RotationRun, event: 'live' | 'ended', status: RotationOutcome, error?: RotationError | null): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent || !parent.workflowId.startsWith(FLEET_ID_PREFIX) || !patchedBefore(run, FLEET_EVENTS_PATCH)) return;
  const info = workflowInfo();
  try {
    await CancellationScope.nonCancellable(() =>
      getExternalWorkflowHandle(parent.workflowId).signal(childRotationSignal, {
        clientId: run.state.status.clientId,
        workflowId: info.workflowId,
        event,
        status,
        ...(error ? { error: { code: error.code, message: error.message.slice(0, 500) } } : {}),
        at: new Date().toISOString(),
      }),
    );
  } catch (err) {
    log.warn('could not tell the fleet', { fleet: parent.workflowId, event, error: String(err) });
  }
}

export function checkRollback(run: RotationRun): void {
  const reason = run.actions.rollbackReason;
  if (reason !== undefined) throw new RollbackRequested('ROLLBACK_REQUESTED', reason);
}

/** Ends the run with one audit record (even while cancelled) and the result of DESIGN.md §6. */
export async function finish(run: RotationRun, status: Exclude<RotationOutcome, 'running'>, error: RotationError | null): Promise<RotationResult> {
  const info = workflowInfo();
  const s = run.state.status;
  s.status = status;
  s.lastError = error ?? s.lastError;
  s.timestamps.ended = new Date().toISOString();
  run.state.enter('done');
  const warnings = [...run.warnings];
  if (warnings.length > 0) s.warnings = warnings;
  await CancellationScope.nonCancellable(() =>
    run.acts.audit.writeAudit({
      timestamp: new Date().toISOString(),
      clientId: s.clientId,
      serviceId: s.serviceId,
      workflowId: info.workflowId,
      runId: info.runId,
      pins: s.pins,
      requester: s.requester?.id ?? null,
      approver: s.approval?.by ?? null,
      latencyMs: s.latencyMs ?? Date.now() - run.startedAt,
      pinMatchRate: run.drainAware ? s.pinMatchRate : (s.pinMatchRate ?? 0),
      ...(s.pinMatch ? { pinMatch: { accepted: s.pinMatch.accepted, rejected: s.pinMatch.rejected, probes: s.pinMatch.probes, probesAccepted: s.pinMatch.probesAccepted } } : {}),
      status,
      errorCode: error?.code ?? null,
      error: error?.message ?? null,
      durationMs: Date.now() - run.startedAt,
      ...(warnings.length > 0 ? { warnings } : {}),
    }),
  );
  if (!run.lean || run.liveAnnounced) await signalFleet(run, 'ended', status, error);
  const result: RotationResult = {
    workflowId: info.workflowId,
    status,
    clientId: s.clientId,
    pins: s.pins,
    pinMatchRate: s.pinMatchRate,
    latencyMs: s.latencyMs,
    serviceId: s.serviceId,
    phase: s.phase,
    error,
    ...(status === 'dry_run' ? { plannedPins: s.plannedPins } : {}),
    warnings,
    ...(s.pinMatch ? { pinMatch: s.pinMatch } : {}),
  };
  // A failed run is a failed workflow (red in the UI, counted by Temporal), carrying its result (DESIGN.md §4).
  if (status === 'failed' && patchedBefore(run, FAILED_WORKFLOW_PATCH)) {
    throw ApplicationFailure.create({
      type: Failure.RotationFailed,
      message: `rotation of ${s.clientId} failed: ${error?.code ?? 'FAILED'}: ${error?.message ?? ''}`.slice(0, 1000),
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}

/** Tells the PKI manager (DESIGN.md §3). */
export async function notify(run: RotationRun, event: 'certificate_rotation' | 'rotation_finalized' | 'rotation_rolled_back', pins: Pin[]): Promise<void> {
  const info = workflowInfo();
  await run.acts.pki.notifyPki({
    event,
    clientId: run.input.clientId,
    serviceId: run.serviceId,
    pins,
    workflowId: info.workflowId,
    runId: info.runId,
    latencyMs: run.state.status.latencyMs ?? Date.now() - run.startedAt,
    ...(run.state.status.requester ? { requester: run.state.status.requester.id } : {}),
    ...(run.state.status.approval ? { approver: run.state.status.approval.by } : {}),
    occurredAt: new Date().toISOString(),
  });
}

import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { RestoreInput } from '../../activities';
import type { RotationError, RotationInput, RotationOutcome, RotationResult } from '../../contract';
import type { OAuthClientState } from '../../genesys/types';
import type { Pin } from '../../pins/types';
import type { OperatorActions } from './actions';
import type { RotationActivities } from './activities';
import { RollbackRequested } from './errors';
import type { RotationState } from './state';

/** Which 409 rule this run follows (see conflict.ts); decided at its first repeated conflict. */
export type ConflictPolicy = 'reread-after-replan' | 'rounds' | 'once';

/** Everything one rotation run knows, handed from phase to phase. */
export interface RotationRun {
  readonly state: RotationState;
  readonly actions: OperatorActions;
  acts: RotationActivities;
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
      pinMatchRate: s.pinMatchRate ?? 0,
      status,
      errorCode: error?.code ?? null,
      error: error?.message ?? null,
      durationMs: Date.now() - run.startedAt,
    }),
  );
  return {
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
  };
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

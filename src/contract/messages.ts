import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SignedApproval } from './approval';
import type { FleetProgress } from './fleet';
import type { RotationOutcome, RotationPhase, RotationStatus } from './rotation';

/**
 * Every signal, query and update of the project, defined once: workflows register handlers for these, clients
 * call them by these definitions, never by a string (DESIGN.md §4 Messages). `defineX` only builds a name+type
 * record, so this module is safe in the workflow bundle and in any Node process.
 */

// Operator actions. Arguments are objects, so later fields (a signed approval, `force`) are additions, not breaks.
// Typed as required; handlers still accept none (the UI and the HTTP API may send no payload).

export interface ApproveArgs {
  /** The approval signed by an approver key the worker trusts (`pinrotate approve --key FILE --approver ID`). */
  approval?: SignedApproval;
  /** Self-asserted name: ignored by runs that verify approvals; kept for runs recorded before (they replay with it). */
  by?: string;
}

export interface FinalizeNowArgs {
  /** Why the overlap is cut short (recorded in the status). */
  reason?: string;
  /** Finalize even though the telemetry shows the old certificate still in use (drops its pin: those clients fail). */
  force?: boolean;
}

export interface RollbackArgs {
  reason?: string;
}

/** What an accepted operator action answers: the phase it was accepted in. */
export interface ActionAccepted {
  accepted: true;
  action: 'approve' | 'finalizeNow' | 'rollback';
  phase: RotationPhase;
}

/**
 * Operator actions as updates: the validator refuses an action that does not fit the rotation's state (the
 * caller gets the reason, nothing is recorded in history). The same names are registered as signals below,
 * because the Temporal UI sends signals; Temporal keeps signal and update handlers apart, so one name serves both.
 */
export const approveUpdate = defineUpdate<ActionAccepted, [ApproveArgs]>('approve');
export const finalizeNowUpdate = defineUpdate<ActionAccepted, [FinalizeNowArgs]>('finalizeNow');
export const rollbackUpdate = defineUpdate<ActionAccepted, [RollbackArgs]>('rollback');

/** The same actions as signals: checked the same way; a refused one is ignored and listed in `status.refusedActions`. */
export const approveSignal = defineSignal<[ApproveArgs]>('approve');
export const finalizeNowSignal = defineSignal<[FinalizeNowArgs]>('finalizeNow');
export const rollbackSignal = defineSignal<[RollbackArgs]>('rollback');

/** Phase, pins, attempts, approval and last error of a rotation, at any time. */
export const statusQuery = defineQuery<RotationStatus>('status');

export interface CertificateIssued {
  certificatePem: string;
  serviceId?: string;
}

export interface CertificateIssuedAccepted {
  accepted: true;
  runId: string;
  /** `now`: this run rotates to it; `next`: the running rotation ends first, then rotates to it. */
  rotates: 'now' | 'next';
}

/**
 * An upstream PKI manager announces a newly issued certificate. With signal-with-start it starts the rotation;
 * sent to a running rotation, the newest certificate is kept and rotated to right after this run ends.
 */
export const certificateIssuedSignal = defineSignal<[CertificateIssued]>('certificateIssued');
/** The same announcement as an update (update-with-start); its validator refuses key material before history. */
export const certificateIssuedUpdate = defineUpdate<CertificateIssuedAccepted, [CertificateIssued]>('certificateIssued');

/** Where a fleet stands, across continue-as-new runs: counts, the clients in flight, the failures so far. */
export const fleetProgressQuery = defineQuery<FleetProgress>('progress');

/**
 * A fleet's child rotation tells its parent (by workflow id, so it reaches the parent's current run after a
 * continue-as-new) that its pins are live: the parent frees the slot and follows it through drain and finalize.
 * `ended` is sent when the child ends, so a parent run that did not start it (a later run) learns its outcome.
 */
export interface ChildRotationEvent {
  clientId: string;
  workflowId: string;
  event: 'live' | 'ended';
  status: RotationOutcome;
  error?: { code: string; message: string };
  at: string;
}
export const childRotationSignal = defineSignal<[ChildRotationEvent]>('childRotation');

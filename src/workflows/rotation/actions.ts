import { ApplicationFailure, log, patched, setHandler } from '@temporalio/workflow';
import {
  approveSignal,
  approveUpdate,
  Failure,
  finalizeNowSignal,
  finalizeNowUpdate,
  rollbackSignal,
  rollbackUpdate,
  type ActionAccepted,
  type ApproveArgs,
  type FinalizeNowArgs,
  type OperatorAction,
  type RollbackArgs,
} from '../../contract';
import type { ApprovalGate } from './approval';
import type { RotationState } from './state';

/** Phases in which the platform may still be told to go back; later, the rotation is already ending. */
const ROLLBACK_TOO_LATE = new Set(['finalizing', 'compensating', 'done']);
/** Refused signals kept in the status; the log has them all. */
const MAX_REFUSED_SHOWN = 20;
const TEXT_MAX = 200;

/**
 * What operators asked for, and whether it fits. Updates refuse an action that does not fit in their validator
 * (the caller gets the reason; nothing reaches history); signals, which cannot answer, are ignored with the
 * reason logged and listed in `status.refusedActions`.
 */
export class OperatorActions {
  approvedBy: string | undefined;
  /** Set when this run verifies signed approvals (see approval.ts); runs recorded before replay without it. */
  gate: ApprovalGate | undefined;
  finalizeRequested = false;
  rollbackReason: string | undefined;
  /** The telemetry's part of the finalizeNow check (drain.ts): a reason to refuse, or undefined. */
  finalizeGuard: (args: FinalizeNowArgs | undefined) => string | undefined = () => undefined;

  constructor(
    private readonly state: RotationState,
    private readonly approvalRequired: () => boolean,
    /** A lean run (LEAN_PATCH): checked-operator-actions-v1 applies without asking. */
    private readonly lean = false,
  ) {}

  /** Why `action` does not fit the rotation's state now, or undefined when it does. */
  refusal(action: OperatorAction, args?: unknown): string | undefined {
    const phase = this.state.phase;
    if (action === 'approve') {
      if (this.approvedBy !== undefined) return `already approved by ${this.approvedBy}`;
      if (phase === 'awaiting_approval') return this.gate?.refusal(args as ApproveArgs | undefined);
      if (!this.approvalRequired()) return 'this rotation does not wait for an approval';
      return `approve is valid only while the rotation awaits approval; it is in phase ${phase}`;
    }
    if (action === 'finalizeNow') {
      if (this.finalizeRequested) return 'finalizeNow was already requested';
      if (phase === 'overlap' || phase === 'draining') return this.finalizeGuard(args as FinalizeNowArgs | undefined);
      return `finalizeNow is valid only once the new pins are live (phase overlap or draining); the rotation is in phase ${phase}`;
    }
    if (this.rollbackReason !== undefined) return 'a rollback is already requested';
    if (ROLLBACK_TOO_LATE.has(phase)) return `too late to roll back: the rotation is in phase ${phase}`;
    return undefined;
  }

  private apply(action: OperatorAction, args: ApproveArgs | FinalizeNowArgs | RollbackArgs | undefined): ActionAccepted {
    if (action === 'approve') {
      const approval = (args as ApproveArgs | undefined)?.approval;
      if (this.gate && approval) {
        // Verified by the validator (or by onSignal) against the worker's approver keys.
        this.approvedBy = approval.claims.approver;
        this.state.status.approval = { by: this.approvedBy, at: new Date().toISOString(), verified: true };
      } else {
        this.approvedBy = bounded((args as ApproveArgs | undefined)?.by) ?? 'unnamed';
        this.state.status.approval = { by: this.approvedBy, at: new Date().toISOString() };
      }
      this.state.showDetails();
    } else if (action === 'finalizeNow') this.finalizeRequested = true;
    else this.rollbackReason = bounded((args as RollbackArgs | undefined)?.reason) ?? 'rollback requested by an operator';
    return { accepted: true, action, phase: this.state.phase };
  }

  /** A signal: checked like the update; refused ones are recorded, unless replaying a run from before the check. */
  private onSignal(action: OperatorAction, args: ApproveArgs | FinalizeNowArgs | RollbackArgs | undefined): void {
    const reason = this.refusal(action, args);
    // Runs recorded before operator actions were checked accepted every signal; they replay that way.
    if (reason !== undefined && (this.lean || patched('checked-operator-actions-v1'))) {
      const refused = { action, via: 'signal' as const, reason, at: new Date().toISOString() };
      log.warn('operator action refused', { ...refused, workflowId: this.state.status.workflowId });
      const list = this.state.status.refusedActions;
      list.push(refused);
      if (list.length > MAX_REFUSED_SHOWN) list.shift();
      return;
    }
    this.apply(action, args);
  }

  register(): void {
    const validator = (action: OperatorAction) => (args?: unknown): void => {
      const reason = this.refusal(action, args);
      if (reason !== undefined) throw ApplicationFailure.create({ type: Failure.ActionRefused, message: reason, nonRetryable: true });
    };
    setHandler(approveUpdate, (args) => this.apply('approve', args), { validator: validator('approve') });
    setHandler(finalizeNowUpdate, (args) => this.apply('finalizeNow', args), { validator: validator('finalizeNow') });
    setHandler(rollbackUpdate, (args) => this.apply('rollback', args), { validator: validator('rollback') });
    setHandler(approveSignal, (args) => this.onSignal('approve', args));
    setHandler(finalizeNowSignal, (args) => this.onSignal('finalizeNow', args));
    setHandler(rollbackSignal, (args) => this.onSignal('rollback', args));
  }
}

/** Operator text reaches the status, the UI and logs: one line, bounded. */
function bounded(text: unknown): string | undefined {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, TEXT_MAX);
}

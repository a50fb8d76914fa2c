import type { CertificateInfo, Pin } from '../pins/types';
import type { RequesterIdentity, SignedStartRequest } from './approval';

/** The rotation's input, state and result: shared by the workflow, the worker and every client (CLI, UI, upstream). */

export interface RotationInput {
  clientId: string;
  /**
   * The new certificate chain, PEM, leaf first. Certificates only: a private key is refused. May be left out
   * when the rotation is started by signal-with-start of `certificateIssued`, which then carries it.
   */
  certificatePem: string;
  serviceId?: string;
  /** How long the old primary stays as fallback, e.g. `7d`; `0s` finalizes at once. Default `7d`. */
  overlap?: string;
  dryRun?: boolean;
  approval?: { required: boolean; timeout?: string };
  /** Paths on the worker to private keys for mTLS probes; the keys themselves never enter the workflow. */
  probe?: { newKeyPath?: string; oldKeyPath?: string; oldCertificatePath?: string };
  // Requester (DESIGN.md §4 Approval): a start request signed with a key of the worker's APPROVER_KEYS makes the
  // requester verified; otherwise `requestedBy` is recorded as `unverified:<requestedBy>`.
  request?: SignedStartRequest;
  requestedBy?: string;
  /** Retry tuning for platform calls (tests keep these tiny). */
  retry?: { initialInterval?: string; maximumInterval?: string; maximumAttempts?: number };
}

export type RotationPhase =
  | 'preflight'
  | 'awaiting_approval'
  | 'applying'
  | 'verifying'
  | 'syncing'
  | 'overlap'
  | 'finalizing'
  | 'compensating'
  | 'done';

export type RotationOutcome = 'running' | 'finalized' | 'rotated' | 'rolled_back' | 'refused' | 'dry_run' | 'failed';

export interface RotationError {
  code: string;
  message: string;
  /** Every certificate problem when the code is one of DESIGN.md §5. */
  problems?: Array<{ code: string; message: string }>;
}

export interface RotationStatus {
  workflowId: string;
  runId: string;
  clientId: string;
  serviceId: string;
  phase: RotationPhase;
  status: RotationOutcome;
  pinsBefore: Pin[];
  plannedPins: Pin[];
  pins: Pin[];
  newCertificate?: CertificateInfo;
  pinMatchRate: number | null;
  latencyMs: number | null;
  attempts: Record<string, number>;
  lastError: RotationError | null;
  timestamps: Partial<Record<RotationPhase | 'started' | 'applied' | 'finalized' | 'rolledBack' | 'ended', string>>;
  overlapEndsAt?: string;
  /** Who approved (once approved); `verified` when the approval's signature was checked against APPROVER_KEYS. */
  approval?: { by: string; at: string; verified?: boolean };
  /** Who asked for this rotation (DESIGN.md §4 Approval). */
  requester?: RequesterIdentity;
  /** Operator actions refused because they did not fit the rotation's state (signals cannot answer; this does). */
  refusedActions: RefusedAction[];
}

export interface RefusedAction {
  action: OperatorAction;
  via: 'signal' | 'update';
  reason: string;
  at: string;
}

export type OperatorAction = 'approve' | 'finalizeNow' | 'rollback';

/** The result shape of DESIGN.md §6 (`rotate --wait --json`), plus the phase and the error when there is one. */
export interface RotationResult {
  workflowId: string;
  status: Exclude<RotationOutcome, 'running'>;
  clientId: string;
  pins: Pin[];
  pinMatchRate: number | null;
  latencyMs: number | null;
  serviceId: string;
  phase: RotationPhase;
  error: RotationError | null;
  plannedPins?: Pin[];
}

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
  // Drain-aware finalize (DESIGN.md §4 Overlap and drain).
  /** When the overlap timer ends: `drain` (default) finalizes once the fallback pin is quiet; `time` at once. */
  finalizePolicy?: FinalizePolicy;
  /** How long the fallback pin must have seen no accepted handshake before `drain` finalizes. Default `1h`. */
  drainQuiet?: string;
  /** From Apply: past it a draining rotation stops re-checking and waits for an operator (never drops the pin). Default `30d`, at most `90d`. */
  maxOverlap?: string;
}

// ---- Drain-aware finalize and the measured pin match rate (DESIGN.md §4).

export type FinalizePolicy = 'drain' | 'time';
export const FINALIZE_POLICIES: readonly FinalizePolicy[] = ['drain', 'time'];
export const DEFAULT_FINALIZE_POLICY: FinalizePolicy = 'drain';
export const DEFAULT_DRAIN_QUIET = '1h';
export const DEFAULT_MAX_OVERLAP = '30d';
/** Upper bound of overlap, drainQuiet and maxOverlap (DESIGN.md §4 Bounds). */
export const MAX_DRAIN_DURATION = '90d';

/**
 * Where a drain stands. `overlap`: the timer runs; `draining`: the fallback pin saw traffic within `drainQuiet`
 * (or the telemetry could not be read), re-checked at `nextCheckAt`; `quiet`: finalizing; `awaiting_operator`:
 * `maxOverlap` passed, the fallback stays until `finalizeNow` (with `force` while in use) or `rollback`.
 */
export type DrainPhase = 'overlap' | 'draining' | 'quiet' | 'awaiting_operator';

export interface DrainStatus {
  policy: FinalizePolicy;
  state: DrainPhase;
  /** Why the rotation is (still) waiting, in one line. */
  reason: string;
  drainQuietMs: number;
  /** Last accepted handshake on the fallback pin (the old certificate) since Apply; null when none was seen. */
  fallbackLastSeen: string | null;
  /** Accepted handshakes since Apply on the fallback pin, on the new primary, and all pins; rejected ones. */
  fallbackAccepted: number;
  primaryAccepted: number;
  accepted: number;
  rejected: number;
  /** The telemetry window's end of the last reading (how fresh the decision is); null before the first. */
  checkedAt: string | null;
  checks: number;
  /** When the next telemetry reading is due (null when not re-checking). */
  nextCheckAt: string | null;
  /** Apply + maxOverlap: past it, the rotation waits for an operator. */
  maxOverlapAt: string;
  /** The last reading failed (telemetry unavailable): the rotation keeps the fallback and retries. */
  telemetryError?: string;
}

/** Counts behind `pinMatchRate`: handshakes since Apply from the gateway's telemetry, plus probe handshakes. */
export interface PinMatch {
  accepted: number;
  rejected: number;
  probes: number;
  probesAccepted: number;
  /** Apply time: the start of the telemetry window. */
  since: string;
  measuredAt: string;
}

export type RotationPhase =
  | 'preflight'
  | 'awaiting_approval'
  | 'applying'
  | 'verifying'
  | 'syncing'
  | 'overlap'
  | 'draining'
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
  /** `live`: when the new pins went live and a fleet parent was told (it frees the slot then). */
  timestamps: Partial<Record<RotationPhase | 'started' | 'applied' | 'live' | 'finalized' | 'rolledBack' | 'ended', string>>;
  overlapEndsAt?: string;
  /** Who approved (once approved); `verified` when the approval's signature was checked against APPROVER_KEYS. */
  approval?: { by: string; at: string; verified?: boolean };
  /** Who asked for this rotation (DESIGN.md §4 Approval). */
  requester?: RequesterIdentity;
  /** Operator actions refused because they did not fit the rotation's state (signals cannot answer; this does). */
  refusedActions: RefusedAction[];
  /** Overlap and drain (once live). */
  drain?: DrainStatus;
  /** Counts behind `pinMatchRate` (once measured). */
  pinMatch?: PinMatch;
  /** Things that went wrong without changing the outcome, e.g. the PKI manager refused the rollback notice. */
  warnings?: string[];
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
  /** Things that went wrong without changing the outcome (e.g. the PKI manager refused `rotation_rolled_back`); absent in results of older runs. */
  warnings?: string[];
  /** Counts behind `pinMatchRate`, when measured. */
  pinMatch?: PinMatch;
}

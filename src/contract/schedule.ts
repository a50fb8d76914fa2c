import type { RotationInput } from './rotation';

/**
 * Names and shapes shared by the scheduled-rotation workflow, its activity and every client (CLI, UI, tests).
 * Pure: the workflow bundle imports this module, so no Node built-ins here.
 */

export const DEFAULT_RENEW_WITHIN = '30d';
/** The rotation's own default overlap, written into every schedule's input at `create`. */
export const DEFAULT_OVERLAP = '7d';

export interface ScheduledRotationInput {
  clientId: string;
  /** Where the new certificate comes from: `file:/ABS/PATH` (on the worker), `https://…` or `emulator-ca`. */
  certSource: string;
  serviceId?: string;
  /** Overlap of the rotation this run starts (default `7d`, the rotation's own default). */
  overlap?: string;
  /** Rotate when the deployed leaf expires within this window (default `30d`). */
  renewWithin?: string;
  /** Retry tuning for this run's activities and the rotation it starts (tests keep these tiny). */
  retry?: RotationInput['retry'];
  /** Passed to the rotation this run starts (absent: the rotation's own defaults). */
  finalizePolicy?: RotationInput['finalizePolicy'];
  drainQuiet?: RotationInput['drainQuiet'];
  maxOverlap?: RotationInput['maxOverlap'];
}

/** What a scheduled run did, named for an operator reading the schedule's recent actions. */
export type ScheduledOutcome =
  /** A rotation was needed and started as `pin-rotation-{clientId}`; it carries on (and audits) on its own. */
  | 'rotation_started'
  /** The deployed certificate is the source's and is not close to expiry: nothing to do. */
  | 'no_op'
  /** A rotation of this client was already running: one rotation per client, so this run did nothing. */
  | 'skipped'
  /** Nothing could be done and an operator must act (e.g. the source still holds an expiring certificate). */
  | 'refused'
  /** An activity kept failing (platform or source unavailable) until its retries ran out. */
  | 'failed';

/** Why: a stable code a reader (or an alert) can match, and a sentence. */
export type RenewalReason =
  | 'NO_DEPLOYED_CERTIFICATE'
  | 'EXPIRES_SOON'
  | 'SOURCE_CHANGED'
  | 'UP_TO_DATE'
  | 'SOURCE_NOT_RENEWED';

export interface CertificateFacts {
  subject: string;
  serialNumber: string;
  notAfter: string;
  /** base64 SHA-256 of the DER certificate. */
  sha256Certificate: string;
}

export interface RenewalAssessment {
  decision: 'rotate' | 'no_op' | 'refuse';
  code: RenewalReason;
  reason: string;
  deployed: CertificateFacts | null;
  /** Null for a source that issues on demand (assessed before anything is issued). */
  source: CertificateFacts | null;
}

export interface ScheduledRotationResult {
  outcome: ScheduledOutcome;
  /** A RenewalReason, `ALREADY_RUNNING`, or the failure's code. */
  code: string;
  reason: string;
  clientId: string;
  rotationWorkflowId: string;
  /** Set when this run started the rotation. */
  rotationRunId?: string;
  deployed?: CertificateFacts | null;
  source?: CertificateFacts | null;
}

/** The schedule's memo: what `schedule list/describe` and the Temporal UI show without decoding the action. */
export interface RotationScheduleMemo {
  clientId: string;
  certSource: string;
  serviceId?: string;
  overlap: string;
  renewWithin: string;
  /** The spec as the operator wrote it: `{every: "24h"}` or `{cron: "0 3 * * *"}`. */
  spec: RotationScheduleSpec;
}

export type RotationScheduleSpec = { every: string } | { cron: string };

/** Sources that issue a new certificate on every request: assessed by the deployed leaf's expiry alone. */
export function issuesOnDemand(certSource: string): boolean {
  return certSource === 'emulator-ca';
}

export const ALREADY_RUNNING_REASON = 'a rotation of this client is already running';

// ---- The check `schedule create` and `schedule update` run on a worker before they change anything.

export const SCHEDULE_CHECK_WORKFLOW_TYPE = 'checkRotationSchedule';

/** One check per client at a time: a second `create` of the same client attaches to the running check. */
export function scheduleCheckWorkflowId(clientId: string): string {
  return `pin-schedule-check-${clientId}`;
}

export interface ScheduleCheckInput {
  clientId: string;
  certSource: string;
  retry?: RotationInput['retry'];
}

/** Why a schedule would be refused: the client is missing or cannot be rotated, or the source does not answer. */
export type ScheduleCheckCode = 'OK' | 'INVALID_INPUT' | 'CLIENT_NOT_FOUND' | 'CLIENT_NOT_ACTIVE' | 'MTLS_NOT_REQUIRED' | 'PLATFORM_UNAVAILABLE' | 'SOURCE_UNREADABLE';

export interface ScheduleCheckResult {
  ok: boolean;
  code: ScheduleCheckCode;
  message: string;
  /** The failure type or certificate code behind a refusal (e.g. CertSourceInvalid, PEM_INVALID). */
  cause?: string;
  client?: { state: string; mtlsRequired: boolean };
  /** The source's leaf (for `emulator-ca`, one issued for the check). */
  source?: CertificateFacts | null;
}

import type { RotationResult } from './rotation';

/**
 * `ApplicationFailure` types: activities raise them, workflows match them by type, never by message. The platform
 * ones mirror src/genesys/errors.ts `FailureType` (a unit test keeps them equal).
 */
export const Failure = {
  /** A certificate failed DESIGN.md §5 checks; details[0] is `{code, problems}`. */
  CertificateInvalid: 'CertificateInvalid',
  /** A certificate source that is not `file:`, `https://` or an injected issuer the worker has. */
  CertSourceInvalid: 'CertSourceInvalid',
  VersionConflict: 'VersionConflict',
  ClientNotFound: 'ClientNotFound',
  RateLimited: 'RateLimited',
  PlatformUnavailable: 'PlatformUnavailable',
  PlatformBadRequest: 'PlatformBadRequest',
  PlatformUnauthorized: 'PlatformUnauthorized',
  PlatformForbidden: 'PlatformForbidden',
  PlatformUnexpected: 'PlatformUnexpected',
  InvalidFleetInput: 'InvalidFleetInput',
  /** An update validator refused an operator action: it does not fit the rotation's state. */
  ActionRefused: 'ActionRefused',
  /** A rotation ended `failed`: the workflow fails with this type; details[0] is the RotationResult. */
  RotationFailed: 'RotationFailed',
  /** The gateway's handshake telemetry could not be read (the adapter has none, or it answered badly). */
  TelemetryUnavailable: 'TelemetryUnavailable',
} as const;
export type FailureName = (typeof Failure)[keyof typeof Failure];

/**
 * The RotationResult a failed rotation carries in its failure details (DESIGN.md §4 Outcomes), found through the
 * causes of a WorkflowFailedError (client) or a ChildWorkflowFailure (parent); undefined for any other error.
 */
export function rotationResultOfFailure(err: unknown): RotationResult | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth += 1) {
    const f = e as { type?: unknown; details?: unknown; cause?: unknown };
    if (f.type === Failure.RotationFailed && Array.isArray(f.details)) {
      const r = f.details[0] as RotationResult | undefined;
      if (r && typeof r === 'object' && typeof r.status === 'string' && typeof r.clientId === 'string') return r;
    }
    e = f.cause;
  }
  return undefined;
}

// `@temporalio/workflow` does not re-export this one; workflows match a child already running by its class.
export { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';

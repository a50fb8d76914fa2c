import { isCancellation } from '@temporalio/workflow';
import { Failure, type RotationError } from '../../contract';
import { PlanError } from '../../pins/plan';
import { failureOf } from '../failure-of';

/** A refusal before anything changed: the rotation ends `refused` with this code. */
export class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly problems?: Array<{ code: string; message: string }>,
  ) {
    super(message);
  }
}

/** An operator asked to roll back (or a verification failed) after Apply. */
export class RollbackRequested extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the status, the result and the audit say about an error: a code and a message, never a stack. */
export function errorOf(err: unknown): RotationError {
  if (err instanceof Refusal) return { code: err.code, message: err.message, ...(err.problems ? { problems: err.problems } : {}) };
  if (err instanceof RollbackRequested) return { code: err.code, message: err.message };
  if (err instanceof PlanError) return { code: err.code, message: err.message };
  const failure = failureOf(err);
  if (failure) {
    const detail = (failure.details?.[0] ?? {}) as { code?: string; problems?: Array<{ code: string; message: string }> };
    if (failure.type === Failure.CertificateInvalid && detail.code) {
      return { code: detail.code, message: failure.message, problems: detail.problems };
    }
    return { code: failure.type ?? 'ActivityFailed', message: failure.message };
  }
  if (isCancellation(err)) return { code: 'CANCELLED', message: 'the rotation was cancelled' };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

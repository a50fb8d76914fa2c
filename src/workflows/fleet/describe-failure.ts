import { ActivityFailure, ApplicationFailure, CancelledFailure, ChildWorkflowFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/workflow';
import { Failure } from '../../contract';

/** Code and message of whatever ended a client's attempt, matched by failure class and type, never by message. */
export function describeFailure(err: unknown): { code: string; message: string } {
  const cause = err instanceof ChildWorkflowFailure || err instanceof ActivityFailure ? err.cause : err;
  // A cancelled rotation ran its saga (restored the client if it had applied); a terminated one did not.
  if (cause instanceof CancelledFailure) return { code: 'CANCELLED', message: `the rotation was cancelled (${cause.message || 'no reason given'}); its saga restores the client if it had applied` };
  if (cause instanceof TerminatedFailure) return { code: 'TERMINATED', message: `the rotation was terminated (${cause.message || 'no reason given'}); check the client's pins by hand` };
  if (cause instanceof TimeoutFailure) return { code: 'TIMED_OUT', message: cause.message || 'timed out' };
  if (cause instanceof ApplicationFailure) {
    const detail = (cause.details?.[0] ?? {}) as { code?: unknown };
    const code = cause.type === Failure.CertificateInvalid && typeof detail.code === 'string' ? detail.code : (cause.type ?? 'FAILED');
    return { code, message: cause.message };
  }
  return { code: 'FAILED', message: cause instanceof Error ? cause.message : String(cause) };
}


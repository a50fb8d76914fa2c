import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/** The `ApplicationFailure` an activity raised (or the workflow threw), to match by its `type`. */
export function failureOf(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause;
  if (err instanceof ApplicationFailure) return err;
  return undefined;
}

import { CLIENT_ID_RULE, isClientId, type RotationInput } from '../../contract';
import { parseDuration } from '../../pins/duration';
import { Refusal } from './errors';

export const DEFAULT_OVERLAP = '7d';
export const DEFAULT_APPROVAL_TIMEOUT = '24h';

export interface RetryTuning {
  initialIntervalMs: number;
  maximumIntervalMs: number;
  maximumAttempts: number;
}

export const DEFAULT_TUNING: RetryTuning = { initialIntervalMs: 1000, maximumIntervalMs: 60_000, maximumAttempts: 12 };

export interface ValidatedInput {
  input: RotationInput;
  overlapMs: number;
  approvalTimeoutMs: number;
  tuning: RetryTuning;
}

function tuningOf(input: RotationInput, problems: string[]): RetryTuning {
  const tuning = { ...DEFAULT_TUNING };
  try {
    if (input.retry?.initialInterval !== undefined) tuning.initialIntervalMs = Math.max(1, parseDuration(input.retry.initialInterval));
    if (input.retry?.maximumInterval !== undefined) tuning.maximumIntervalMs = Math.max(1, parseDuration(input.retry.maximumInterval));
  } catch {
    problems.push('retry.initialInterval and retry.maximumInterval must be durations like "1s"');
  }
  if (input.retry?.maximumAttempts !== undefined) {
    if (!Number.isInteger(input.retry.maximumAttempts) || input.retry.maximumAttempts < 1) problems.push('retry.maximumAttempts must be a positive integer');
    else tuning.maximumAttempts = input.retry.maximumAttempts;
  }
  return tuning;
}

function durationOf(value: string, problems: string[], problem: string): number {
  try {
    return parseDuration(value);
  } catch {
    problems.push(problem);
    return 0;
  }
}

/** Checks a rotation's input before anything is scheduled; every problem is named in one `INVALID_INPUT` refusal. */
export function validateInput(raw: unknown): ValidatedInput {
  const problems: string[] = [];
  const input = (raw ?? {}) as RotationInput;
  if (typeof raw !== 'object' || raw === null) problems.push('input must be a JSON object');
  if (!isClientId(input.clientId)) problems.push(`clientId must be ${CLIENT_ID_RULE}`);
  if (typeof input.certificatePem !== 'string' || !input.certificatePem.includes('-----BEGIN')) {
    problems.push('certificatePem must be the new certificate chain as PEM text (leaf first)');
  }
  if (input.serviceId !== undefined && typeof input.serviceId !== 'string') problems.push('serviceId must be a string');
  const overlapMs = durationOf(input.overlap ?? DEFAULT_OVERLAP, problems, `overlap must be a duration like "7d", "12h" or "0s" (got ${JSON.stringify(input.overlap)})`);
  const approvalTimeoutMs = durationOf(
    input.approval?.timeout ?? DEFAULT_APPROVAL_TIMEOUT,
    problems,
    `approval.timeout must be a duration like "1h" (got ${JSON.stringify(input.approval?.timeout)})`,
  );
  const tuning = tuningOf(input, problems);
  if (problems.length > 0) throw new Refusal('INVALID_INPUT', problems.join('; '));
  return { input, overlapMs, approvalTimeoutMs, tuning };
}

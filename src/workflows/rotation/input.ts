import { CLIENT_ID_RULE, isClientId, type RotationInput } from '../../contract';
import { certificatesOnly, CertificatesOnlyError } from '../../pins/certificates-only';
import { parseDuration } from '../../pins/duration';
import { Refusal } from './errors';

export const DEFAULT_OVERLAP = '7d';
export const DEFAULT_APPROVAL_TIMEOUT = '24h';

// DESIGN.md §4 Bounds: what an input can make a run wait for, and how much text it can put in history and logs.
const DAY_MS = 86_400_000;
const MAX_RETRY_INTERVAL_MS = 3_600_000;
export const MAX_OVERLAP_MS = 90 * DAY_MS;
export const MAX_APPROVAL_TIMEOUT_MS = 30 * DAY_MS;
export const SERVICE_ID_MAX_LENGTH = 128;
export const REQUESTED_BY_MAX_LENGTH = 64;
/** Drain durations (overlap policy fields) bounded like the overlap. */
const DRAIN_DURATION_FIELDS = ['drainQuiet', 'maxOverlap'] as const;

/** Any text an input shows (status, search attribute, log, audit): control characters out, cut at `max` characters. */
export function shownText(value: unknown, max: number): string {
  if (typeof value !== 'string') return '';
  // eslint-disable-next-line no-control-regex
  const line = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A value quoted for a problem message, never longer than a few words. */
function quoted(value: unknown): string {
  return JSON.stringify(shownText(typeof value === 'string' ? value : String(value), 40));
}

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
  if (tuning.initialIntervalMs > MAX_RETRY_INTERVAL_MS || tuning.maximumIntervalMs > MAX_RETRY_INTERVAL_MS) problems.push('retry intervals must be at most 1h');
  if (input.retry?.maximumAttempts !== undefined) {
    if (!Number.isInteger(input.retry.maximumAttempts) || input.retry.maximumAttempts < 1 || input.retry.maximumAttempts > 1000) problems.push('retry.maximumAttempts must be an integer from 1 to 1000');
    else tuning.maximumAttempts = input.retry.maximumAttempts;
  }
  return tuning;
}

function durationOf(value: unknown, problems: string[], name: string, example: string, maxMs: number): number {
  let ms: number;
  try {
    ms = parseDuration(value as string);
  } catch {
    problems.push(`${name} must be a duration like ${example} (got ${quoted(value)})`);
    return 0;
  }
  if (ms > maxMs) {
    problems.push(`${name} must be at most ${maxMs / DAY_MS}d (got ${quoted(value)})`);
    return 0;
  }
  return ms;
}

/** Only the re-framed CERTIFICATE blocks of the input travel on (DESIGN.md §4 Bounds); key material is refused. */
export function reframedChain(pem: unknown): string {
  try {
    return certificatesOnly(pem).pem;
  } catch (err) {
    if (err instanceof CertificatesOnlyError) throw new Refusal(err.code, err.message, [{ code: err.code, message: err.message }]);
    throw err;
  }
}

/**
 * Checks a rotation's input before anything is scheduled: shape and bounds are named in one `INVALID_INPUT`
 * refusal; then the chain is cut down to its re-framed certificates (a key, an oversized or a non-PEM chain is
 * refused with its §5 code). The input returned carries only the re-framed chain.
 */
export function validateInput(raw: unknown): ValidatedInput {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Refusal('INVALID_INPUT', 'input must be a JSON object');
  const input = raw as RotationInput;
  if (!isClientId(input.clientId)) problems.push(`clientId must be ${CLIENT_ID_RULE}`);
  if (typeof input.certificatePem !== 'string' || !input.certificatePem.includes('-----BEGIN')) {
    problems.push('certificatePem must be the new certificate chain as PEM text (leaf first)');
  }
  if (input.serviceId !== undefined && (typeof input.serviceId !== 'string' || input.serviceId.length > SERVICE_ID_MAX_LENGTH || shownText(input.serviceId, SERVICE_ID_MAX_LENGTH) !== input.serviceId)) {
    problems.push(`serviceId must be text of at most ${SERVICE_ID_MAX_LENGTH} characters without control characters`);
  }
  if (input.requestedBy !== undefined && (typeof input.requestedBy !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(input.requestedBy))) {
    problems.push(`requestedBy must be 1-${REQUESTED_BY_MAX_LENGTH} printable ASCII characters without spaces`);
  }
  if (input.approval !== undefined && (typeof input.approval !== 'object' || input.approval === null)) problems.push('approval must be an object {required, timeout?}');
  if (input.probe !== undefined && (typeof input.probe !== 'object' || input.probe === null)) problems.push('probe must be an object');
  else if (input.probe && Object.values(input.probe).some((path) => path !== undefined && (typeof path !== 'string' || path.length === 0 || path.length > 1024))) {
    problems.push('probe paths must be file paths of at most 1024 characters');
  }
  if (input.retry !== undefined && (typeof input.retry !== 'object' || input.retry === null)) problems.push('retry must be an object');
  const overlapMs = durationOf(input.overlap ?? DEFAULT_OVERLAP, problems, 'overlap', '"7d", "12h" or "0s"', MAX_OVERLAP_MS);
  const approvalTimeoutMs = durationOf(input.approval?.timeout ?? DEFAULT_APPROVAL_TIMEOUT, problems, 'approval.timeout', '"1h"', MAX_APPROVAL_TIMEOUT_MS);
  for (const field of DRAIN_DURATION_FIELDS) {
    const value = (input as unknown as Record<string, unknown>)[field];
    if (value !== undefined) durationOf(value, problems, field, '"1h"', MAX_OVERLAP_MS);
  }
  // Checked here too, so one refusal names every problem of the input (drainSettings checks it again).
  const policy = (input as { finalizePolicy?: unknown }).finalizePolicy;
  if (policy !== undefined && policy !== 'drain' && policy !== 'time') problems.push(`finalizePolicy must be "drain" or "time" (got ${quoted(policy)})`);
  const tuning = tuningOf(input, problems);
  if (problems.length > 0) throw new Refusal('INVALID_INPUT', problems.join('; '));
  return { input: { ...input, certificatePem: reframedChain(input.certificatePem) }, overlapMs, approvalTimeoutMs, tuning };
}

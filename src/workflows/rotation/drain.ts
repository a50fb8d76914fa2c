import { condition } from '@temporalio/workflow';
import {
  DEFAULT_DRAIN_QUIET,
  DEFAULT_FINALIZE_POLICY,
  DEFAULT_MAX_OVERLAP,
  FINALIZE_POLICIES,
  MAX_DRAIN_DURATION,
  type DrainStatus,
  type FinalizeNowArgs,
  type FinalizePolicy,
  type RotationInput,
} from '../../contract';
import type { HandshakeReading } from '../../activities';
import { formatDuration, parseDuration } from '../../pins/duration';
import { errorOf, Refusal } from './errors';
import { patchedBefore, type RotationRun } from './run';

/** Runs recorded before drain-aware finalize replay the plain overlap timer (no telemetry readings). */
export const DRAIN_PATCH = 'drain-aware-finalize-v1';

const SECOND = 1000;
const BASE_CAP_MS = 15 * 60 * SECOND;
/**
 * Telemetry readings are spaced so history stays bounded without continue-as-new. The interval starts at
 * clamp(drainQuiet/4, 1s, 15m) (a drain of seconds is seen in seconds), grows with the time since Apply (1/50 of
 * it) and is capped at max(15m, maxOverlap/500). A reading is a timer and an activity, about 11 history events:
 * at most ~50 readings at the base interval, ~50·ln(cap/base) while growing (≤ ~490), ≤ 500 at the cap: ≤ ~1040
 * readings, ~11.5k events, for maxOverlap 90d and drainQuiet 1s; ~640 readings (~7k events) with the defaults.
 */
const GROWTH_DIVISOR = 50;
const READINGS_AT_CAP = 500;

/** The wait before the next reading, `elapsedMs` after Apply. */
export function checkInterval(settings: DrainSettings, elapsedMs: number): number {
  const cap = Math.max(BASE_CAP_MS, Math.ceil(settings.maxOverlapMs / READINGS_AT_CAP));
  return Math.min(Math.max(settings.baseIntervalMs, Math.floor(elapsedMs / GROWTH_DIVISOR)), cap);
}

export interface DrainSettings {
  policy: FinalizePolicy;
  quietMs: number;
  maxOverlapMs: number;
  /** clamp(drainQuiet/4, 1s, 15m): the first readings' interval (checkInterval grows it). */
  baseIntervalMs: number;
}

/** Checks the drain fields of the input; problems are named in one INVALID_INPUT refusal, nothing changed. */
export function drainSettings(input: RotationInput, overlapMs: number): DrainSettings {
  const problems: string[] = [];
  const maxMs = parseDuration(MAX_DRAIN_DURATION);
  const duration = (value: unknown, name: string, fallback: string): number => {
    try {
      const ms = parseDuration((value ?? fallback) as string);
      if (ms > maxMs) problems.push(`${name} must be at most ${MAX_DRAIN_DURATION} (got ${String(value)})`);
      return ms;
    } catch {
      problems.push(`${name} must be a duration like "1h" or "30d" (got ${JSON.stringify(value)})`);
      return 0;
    }
  };
  const policy = (input.finalizePolicy ?? DEFAULT_FINALIZE_POLICY) as FinalizePolicy;
  if (!FINALIZE_POLICIES.includes(policy)) problems.push(`finalizePolicy must be "drain" or "time" (got ${JSON.stringify(input.finalizePolicy)})`);
  if (overlapMs > maxMs) problems.push(`overlap must be at most ${MAX_DRAIN_DURATION} (got ${input.overlap})`);
  const quietMs = duration(input.drainQuiet, 'drainQuiet', DEFAULT_DRAIN_QUIET);
  let maxOverlapMs = duration(input.maxOverlap, 'maxOverlap', DEFAULT_MAX_OVERLAP);
  if (input.maxOverlap === undefined) maxOverlapMs = Math.max(maxOverlapMs, overlapMs);
  else if (maxOverlapMs < overlapMs) problems.push(`maxOverlap (${input.maxOverlap}) must be at least the overlap (${input.overlap})`);
  if (problems.length > 0) throw new Refusal('INVALID_INPUT', problems.join('; '));
  const baseIntervalMs = Math.min(Math.max(Math.floor(quietMs / 4), SECOND), BASE_CAP_MS);
  return { policy, quietMs, maxOverlapMs, baseIntervalMs };
}

/**
 * Whether the old certificate is still in use at `now` by the last reading: an accepted handshake on the fallback
 * pin within drainQuiet. The rotation's own probe handshakes with the old certificate do not count.
 */
export function fallbackInUse(drain: DrainStatus, now: number): boolean {
  return drain.fallbackLastSeen !== null && Date.parse(drain.fallbackLastSeen) > now - drain.drainQuietMs;
}

/** Why `finalizeNow` is refused now (the validator's part that needs the telemetry), or undefined. */
export function finalizeRefusal(run: RotationRun, args: FinalizeNowArgs | undefined): string | undefined {
  const drain = run.state.status.drain;
  if (!drain || args?.force === true) return undefined;
  const age = drain.checkedAt ? `${formatDuration(Math.max(0, Date.now() - Date.parse(drain.checkedAt)))} ago` : 'never';
  if (drain.checkedAt === null || drain.telemetryError) {
    return `the handshake telemetry could not be read (last reading: ${age}); finalizing could lock out clients still on the old certificate: use force to finalize anyway`;
  }
  if (fallbackInUse(drain, Date.now())) {
    return `the old certificate is still in use: last accepted handshake on the fallback pin at ${drain.fallbackLastSeen} (reading ${age}, drainQuiet ${formatDuration(drain.drainQuietMs)}); finalizing drops its pin and locks those clients out: use force to finalize anyway`;
  }
  return undefined;
}

/**
 * A reading younger than this decides the drain without another (lean runs): the shortest interval between two
 * readings (the base check interval is at least 1s). A rotation with no overlap whose fallback is quiet at verify
 * finalizes on that reading instead of asking the gateway again within a second; every reading is a platform call
 * on the rate-limited queue.
 */
export const FRESH_READING_MS = SECOND;

/** The last reading, if this lean run took it less than FRESH_READING_MS ago and it did not fail since. */
export function freshReading(run: RotationRun): HandshakeReading | undefined {
  const { lastReading, lastReadAt } = run.probes;
  if (!run.lean || !lastReading || lastReadAt === undefined || run.state.status.drain?.telemetryError) return undefined;
  return Date.now() - lastReadAt < FRESH_READING_MS ? lastReading : undefined;
}

/** Reads the telemetry since Apply and updates the drain state and the pin match rate; a failed read is kept as such. */
export async function readTelemetry(run: RotationRun, gauges: { draining: boolean; atMaxOverlap: boolean }): Promise<HandshakeReading | undefined> {
  const { state, input } = run;
  const s = state.status;
  const since = s.timestamps.applied!;
  const fallbackSpki = s.pinsBefore.find((p) => p.role === 'primary')?.sha256Spki;
  const primarySpki = run.leafPin?.sha256Spki;
  let reading: HandshakeReading;
  try {
    reading = await run.acts.telemetry.readHandshakes({ clientId: input.clientId, since, primarySpki, fallbackSpki, ...gauges });
  } catch (err) {
    if (s.drain) s.drain.telemetryError = errorOf(err).message.slice(0, 200);
    return undefined;
  }
  run.probes.lastReading = reading;
  run.probes.lastReadAt = Date.now();
  measurePinMatch(run, reading);
  const drain = s.drain;
  if (drain) {
    delete drain.telemetryError;
    drain.checks += 1;
    drain.checkedAt = reading.until;
    drain.accepted = reading.accepted;
    drain.rejected = reading.rejected;
    drain.primaryAccepted = reading.primary.accepted;
    drain.fallbackAccepted = reading.fallback.accepted;
    drain.fallbackLastSeen = fieldLastSeen(run, reading);
  }
  return reading;
}

/**
 * The fallback's last accepted handshake from the field: when every fallback handshake since Apply can be the
 * rotation's own old-certificate probes (no more of them, none after the last probe's second), there was none.
 */
function fieldLastSeen(run: RotationRun, reading: HandshakeReading): string | null {
  const { oldAccepted, lastOldProbeAt } = run.probes;
  const last = reading.fallback.lastSeen;
  if (last === null || lastOldProbeAt === undefined) return last;
  const onlyOurs = reading.fallback.accepted <= oldAccepted && Date.parse(last) <= lastOldProbeAt + SECOND;
  return onlyOurs ? null : last;
}

/** Pin match rate (DESIGN.md §4): handshakes since Apply that matched an active pin; probes alone without telemetry. */
export function measurePinMatch(run: RotationRun, reading: HandshakeReading | undefined): void {
  const s = run.state.status;
  const { count, accepted } = run.probes;
  const fromTelemetry = reading !== undefined;
  const ok = fromTelemetry ? reading.accepted : accepted;
  const total = fromTelemetry ? reading.accepted + reading.rejected : count;
  s.pinMatchRate = total > 0 ? ok / total : null;
  s.pinMatch = {
    accepted: fromTelemetry ? reading.accepted : 0,
    rejected: fromTelemetry ? reading.rejected : 0,
    probes: count,
    probesAccepted: accepted,
    since: s.timestamps.applied ?? '',
    measuredAt: fromTelemetry ? reading.until : new Date().toISOString(),
  };
}

/**
 * 6. Overlap and drain (DESIGN.md §4). The overlap timer, with telemetry readings at the check interval to keep
 * the pin match rate current; then `time` finalizes, `drain` waits in phase `draining` until the fallback pin had no
 * accepted handshake for drainQuiet. At maxOverlap it stops re-checking and waits for an operator: it never drops a
 * pin in use by itself. `finalizeNow` (with `force` while in use) or `rollback` end the wait.
 */
export async function overlapAndDrain(run: RotationRun): Promise<void> {
  const { state, actions } = run;
  const settings = run.drain!;
  const s = state.status;
  const appliedAt = Date.parse(s.timestamps.applied!);
  const maxOverlapAt = appliedAt + settings.maxOverlapMs;
  const overlapEndsAt = Date.now() + run.overlapMs;
  const ended = (): boolean => actions.finalizeRequested || actions.rollbackReason !== undefined;
  s.status = 'rotated';
  s.drain = {
    policy: settings.policy,
    state: 'overlap',
    reason: `overlap timer until ${new Date(overlapEndsAt).toISOString()}`,
    drainQuietMs: settings.quietMs,
    fallbackLastSeen: s.drain?.fallbackLastSeen ?? null,
    fallbackAccepted: 0,
    primaryAccepted: 0,
    accepted: 0,
    rejected: 0,
    checkedAt: null,
    checks: 0,
    nextCheckAt: null,
    maxOverlapAt: new Date(maxOverlapAt).toISOString(),
  };
  const drain = s.drain;
  if (run.probes.lastReading) {
    // The reading taken at verify counts as the first one.
    drain.checks = 1;
    drain.checkedAt = run.probes.lastReading.until;
    drain.accepted = run.probes.lastReading.accepted;
    drain.rejected = run.probes.lastReading.rejected;
    drain.primaryAccepted = run.probes.lastReading.primary.accepted;
    drain.fallbackAccepted = run.probes.lastReading.fallback.accepted;
    drain.fallbackLastSeen = fieldLastSeen(run, run.probes.lastReading);
  }
  // Lean runs tell the fleet just before they wait (the slot is then free); one that finalizes at once does not.
  if (run.lean) run.markLive();
  else await run.announceLive();
  if (run.overlapMs > 0) {
    s.overlapEndsAt = new Date(overlapEndsAt).toISOString();
    state.enter('overlap');
    if (run.lean) await run.announceLive();
    while (!ended() && Date.now() < overlapEndsAt) {
      const wait = Math.min(checkInterval(settings, Date.now() - appliedAt), overlapEndsAt - Date.now());
      drain.nextCheckAt = new Date(Date.now() + wait).toISOString();
      state.showDetails();
      if (await condition(ended, wait, { summary: 'overlap: next handshake check' })) break;
      if (Date.now() < overlapEndsAt) await readTelemetry(run, { draining: false, atMaxOverlap: false });
    }
  }
  drain.nextCheckAt = null;
  if (ended()) return;
  if (settings.policy === 'time') {
    drain.state = 'quiet';
    drain.reason = 'finalizePolicy time: the overlap timer ended';
    return;
  }
  // The reading at verify, when it is that fresh, decides a quiet fallback; one in use is read again (the draining gauge).
  let fresh = freshReading(run) !== undefined;
  for (;;) {
    if (!fresh) await readTelemetry(run, { draining: true, atMaxOverlap: false });
    if (ended()) return;
    const now = Date.now();
    if (drain.checkedAt !== null && !drain.telemetryError && !fallbackInUse(drain, now)) {
      drain.state = 'quiet';
      drain.reason = drain.fallbackLastSeen
        ? `fallback pin quiet since ${drain.fallbackLastSeen} (drainQuiet ${formatDuration(settings.quietMs)})`
        : 'no accepted handshake on the fallback pin since Apply';
      return;
    }
    if (fresh) {
      fresh = false;
      continue;
    }
    const why = drain.telemetryError
      ? `telemetry unavailable (${drain.telemetryError}); the fallback pin stays`
      : `old certificate in use: last fallback handshake ${drain.fallbackLastSeen}`;
    if (now >= maxOverlapAt) {
      drain.state = 'awaiting_operator';
      drain.nextCheckAt = null;
      drain.reason = `maxOverlap reached with ${why}; waiting for an operator: finalize --force or rollback`;
      if (state.phase !== 'draining') state.enter('draining');
      else state.showDetails();
      if (run.lean) await run.announceLive();
      // The gauge says so (2) until an operator acts; nothing is re-read, so the history stays bounded.
      await readTelemetry(run, { draining: true, atMaxOverlap: true });
      await condition(ended);
      return;
    }
    const wait = Math.max(1, Math.min(checkInterval(settings, now - appliedAt), maxOverlapAt - now));
    drain.state = 'draining';
    drain.reason = `${why}; re-checking`;
    drain.nextCheckAt = new Date(now + wait).toISOString();
    if (state.phase !== 'draining') state.enter('draining');
    else state.showDetails();
    if (run.lean) await run.announceLive();
    if (await condition(ended, wait, { summary: 'draining: next handshake check' })) return;
  }
}

/** Whether this run follows the drain-aware path (recorded as a marker the first time it is asked). */
export function drainAware(run: RotationRun): boolean {
  return patchedBefore(run, DRAIN_PATCH);
}

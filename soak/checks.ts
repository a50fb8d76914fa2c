import type { AuditRecord } from '../src/activities/audit';
import type { ClientVersion, FieldClientView, WebhookDelivery } from '../src/emulator/types';
import type { FinalizePolicy, RotationResult, ScheduledRotationResult } from '../src/contract';

/**
 * The soak's invariants: pure functions over what the run observed (field clients, platform pins seen while polling,
 * the PKI receiver's deliveries, the audit file, every workflow run), so the runner only gathers. Each check says
 * how many things it looked at, so a check that saw nothing is visible as such.
 */

export interface CheckResult {
  /** Invariant name, as printed. */
  name: string;
  /** How many things were checked (handshakes, runs, deliveries, …) and what they are. */
  checked: number;
  unit: string;
  violations: string[];
  /** A short figure for the side-by-side table, e.g. "0 of 1234 rejected". */
  figure: string;
}

export interface SoakClient {
  clientId: string;
  policy: FinalizePolicy;
  /** Deploys the new certificate later than the overlap ends. */
  slow: boolean;
  deployDelayMs: number;
}

/** One workflow run as visibility and its result tell it. */
export interface ObservedRun {
  type: 'pinRotation' | 'scheduledRotation';
  workflowId: string;
  runId: string;
  clientId: string;
  /** Temporal's execution status name: COMPLETED, FAILED, RUNNING, … */
  status: string;
  historyLength: number;
  /** Start to close, from visibility; undefined while running. */
  durationMs?: number;
  rotation?: RotationResult;
  scheduled?: ScheduledRotationResult;
}

export interface PinSighting {
  clientId: string;
  at: string;
  role: string;
  notAfter: string;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** No lockout: no handshake of a field client was rejected, and every field client could move when told to. */
export function checkLockouts(clients: readonly SoakClient[], fieldClients: readonly FieldClientView[]): CheckResult & { rejected: number; accepted: number; lockedOut: string[]; rejectedSlow: number; rejectedFast: number } {
  const violations: string[] = [];
  let rejected = 0;
  let accepted = 0;
  let rejectedSlow = 0;
  let rejectedFast = 0;
  const lockedOut: string[] = [];
  for (const c of clients) {
    const fc = fieldClients.find((f) => f.clientId === c.clientId);
    if (!fc) {
      violations.push(`${c.clientId}: no field client running (it was started at seeding)`);
      continue;
    }
    accepted += fc.accepted;
    rejected += fc.rejected;
    if (c.slow) rejectedSlow += fc.rejected;
    else rejectedFast += fc.rejected;
    if (fc.rejected > 0) {
      lockedOut.push(c.clientId);
      violations.push(`${c.clientId} (${c.slow ? 'slow' : 'fast'} deployer, ${c.deployDelayMs} ms): ${fc.rejected} handshakes rejected, last at ${fc.lastRejection?.at ?? '?'} (${fc.lastRejection?.reason ?? 'no reason'})`);
    }
    if (fc.lastDeployError) violations.push(`${c.clientId}: the field client could not move: ${fc.lastDeployError}`);
  }
  return {
    name: 'no field-client handshake rejected (no lockout)',
    checked: accepted + rejected,
    unit: 'handshakes',
    violations,
    figure: `${rejected} of ${accepted + rejected} rejected; ${lockedOut.length}/${clients.length} clients locked out (slow ${rejectedSlow}, fast ${rejectedFast})`,
    rejected,
    accepted,
    lockedOut,
    rejectedSlow,
    rejectedFast,
  };
}

/** No client left pinned to an expired certificate: every pin seen on the platform while polling was valid then. */
export function checkExpiredPins(polls: number, pinsSeen: number, expired: readonly PinSighting[]): CheckResult {
  const byClient = new Map<string, PinSighting[]>();
  for (const s of expired) byClient.set(s.clientId, [...(byClient.get(s.clientId) ?? []), s]);
  const violations = [...byClient].map(([id, list]) => `${id}: pinned to an expired certificate in ${plural(list.length, 'poll')} (first at ${list[0].at}: ${list[0].role} pin expired ${list[0].notAfter})`);
  return { name: 'no client left pinned to an expired certificate', checked: pinsSeen, unit: `pins over ${plural(polls, 'poll')}`, violations, figure: `${expired.length} expired pins in ${pinsSeen} seen` };
}

/**
 * Every rotation reaches the outcome its situation implies. In this soak every situation (platform 503s, resets and
 * 429s, PKI outages shorter than the retry budget, slow deployers) implies `finalized`; a scheduled run ends
 * `no_op` (certificate current), `rotation_started` (renewed at the source) or `skipped` (a rotation still draining),
 * and a rotation started from an assessment made before the previous rotation finalized the same certificate ends
 * `refused` ALREADY_PINNED (nothing changed),
 * never `refused` or `failed`. Every client must have rotated at least `minRotations` times.
 */
export function checkOutcomes(clients: readonly SoakClient[], runs: readonly ObservedRun[], minRotations: number): CheckResult & { rotations: number; finalized: number; byScheduled: Record<string, number>; perClientMin: number } {
  const violations: string[] = [];
  const ids = new Set(clients.map((c) => c.clientId));
  const mine = runs.filter((r) => ids.has(r.clientId));
  const rotations = mine.filter((r) => r.type === 'pinRotation');
  let finalized = 0;
  let alreadyPinned = 0;
  for (const r of rotations) {
    if (r.status !== 'COMPLETED' || !r.rotation) {
      violations.push(`${r.workflowId} run ${r.runId}: ended ${r.status}${r.status === 'RUNNING' ? ' (still running after the wind-down)' : ''}, expected a completed finalized rotation`);
      continue;
    }
    if (r.rotation.status === 'finalized') finalized += 1;
    // A scheduled run that assessed before the previous rotation finalized the same certificate: nothing to do.
    else if (r.rotation.status === 'refused' && r.rotation.error?.code === 'ALREADY_PINNED') alreadyPinned += 1;
    else violations.push(`${r.workflowId} run ${r.runId}: ${r.rotation.status}${r.rotation.error ? ` (${r.rotation.error.code}: ${r.rotation.error.message})` : ''}, expected finalized`);
  }
  const byScheduled: Record<string, number> = {};
  for (const r of mine.filter((x) => x.type === 'scheduledRotation')) {
    const outcome = r.scheduled?.outcome ?? r.status.toLowerCase();
    byScheduled[outcome] = (byScheduled[outcome] ?? 0) + 1;
    if (!['no_op', 'rotation_started', 'skipped'].includes(outcome)) {
      violations.push(`scheduled run ${r.workflowId}: ${outcome}${r.scheduled ? ` (${r.scheduled.code}: ${r.scheduled.reason})` : ''}`);
    }
  }
  let perClientMin = Number.POSITIVE_INFINITY;
  for (const c of clients) {
    const n = rotations.filter((r) => r.clientId === c.clientId).length;
    perClientMin = Math.min(perClientMin, n);
    if (n < minRotations) violations.push(`${c.clientId}: rotated ${n} times, the plan implies at least ${minRotations}`);
  }
  const started = byScheduled.rotation_started ?? 0;
  if (started !== rotations.length) violations.push(`${started} scheduled runs started a rotation, but ${rotations.length} rotation runs exist`);
  return {
    name: 'every rotation reaches the outcome its situation implies',
    checked: mine.length,
    unit: 'runs (rotations and scheduled checks)',
    violations,
    figure: `${finalized}/${rotations.length} rotations finalized${alreadyPinned ? `, ${alreadyPinned} refused ALREADY_PINNED (a stale scheduled assessment)` : ''} (≥ ${Number.isFinite(perClientMin) ? perClientMin : 0} per client); scheduled ${Object.entries(byScheduled)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    rotations: rotations.length,
    finalized,
    byScheduled,
    perClientMin: Number.isFinite(perClientMin) ? perClientMin : 0,
  };
}

type Body = { event?: string; clientId?: string; workflowId?: string; runId?: string };
const bodyOf = (d: WebhookDelivery): Body => (d.body && typeof d.body === 'object' ? (d.body as Body) : {});
const processed = (d: WebhookDelivery): boolean => d.status >= 200 && d.status < 300 && !d.duplicate;

/**
 * Every webhook processed exactly once per run, and none taken for a duplicate across runs: a key is processed at
 * most once; a delivery answered `duplicate` repeats the same event of the same run (a retry); each finalized
 * rotation run had `certificate_rotation` and `rotation_finalized` processed exactly once, under its own run id.
 */
export function checkWebhooks(clients: readonly SoakClient[], runs: readonly ObservedRun[], deliveries: readonly WebhookDelivery[], gaps: number): CheckResult & { processed: number; redeliveries: number; crossRun: number } {
  const violations: string[] = [];
  const ids = new Set(clients.map((c) => c.clientId));
  const mine = deliveries.filter((d) => d.tokenValid && d.signatureValid && ids.has(bodyOf(d).clientId ?? ''));
  if (gaps > 0) violations.push(`${plural(gaps, 'gap')} in the receiver's delivery log between polls: some deliveries were not observed`);
  const byKey = new Map<string, WebhookDelivery[]>();
  for (const d of mine) {
    if (!d.idempotencyKey) continue;
    byKey.set(d.idempotencyKey, [...(byKey.get(d.idempotencyKey) ?? []), d]);
  }
  let crossRun = 0;
  let redeliveries = 0;
  for (const [key, list] of byKey) {
    const done = list.filter(processed);
    if (done.length > 1) violations.push(`Idempotency-Key ${key} processed ${done.length} times`);
    const first = done[0] ? bodyOf(done[0]) : undefined;
    for (const d of list.filter((x) => x.duplicate)) {
      const b = bodyOf(d);
      if (first && (b.runId !== first.runId || b.event !== first.event)) {
        crossRun += 1;
        violations.push(`Idempotency-Key ${key}: ${b.event} of run ${b.runId} taken for a duplicate of ${first.event} of run ${first.runId}`);
      } else redeliveries += 1;
    }
  }
  const rotationRuns = runs.filter((r) => r.type === 'pinRotation' && ids.has(r.clientId));
  const known = new Set(rotationRuns.map((r) => r.runId));
  for (const d of mine.filter(processed)) {
    const b = bodyOf(d);
    if (!known.has(b.runId ?? '')) violations.push(`processed ${b.event} of run ${b.runId} (${b.workflowId}), a run this soak did not see`);
  }
  for (const r of rotationRuns) {
    if (r.rotation?.status !== 'finalized') continue;
    for (const event of ['certificate_rotation', 'rotation_finalized']) {
      const n = mine.filter((d) => processed(d) && bodyOf(d).runId === r.runId && bodyOf(d).event === event).length;
      if (n !== 1) violations.push(`${r.workflowId} run ${r.runId}: ${event} processed ${n} times, expected once`);
    }
  }
  const processedCount = mine.filter(processed).length;
  return {
    name: 'every webhook processed exactly once per run, none taken for a duplicate across runs',
    checked: mine.length,
    unit: 'deliveries',
    violations,
    figure: `${processedCount} processed, ${redeliveries} retries answered duplicate, ${crossRun} cross-run duplicates`,
    processed: processedCount,
    redeliveries,
    crossRun,
  };
}

/** One audit record per run: every rotation run and every scheduled run that did not start a rotation (that one is audited by its rotation). */
export function checkAudit(clients: readonly SoakClient[], runs: readonly ObservedRun[], records: readonly AuditRecord[], tornLines: number): CheckResult {
  const violations: string[] = [];
  const ids = new Set(clients.map((c) => c.clientId));
  const mine = records.filter((r) => ids.has(r.clientId));
  if (tornLines > 0) violations.push(`${plural(tornLines, 'audit line')} not JSON (torn writes?)`);
  const byRun = new Map<string, AuditRecord[]>();
  for (const rec of mine) byRun.set(`${rec.workflowId}#${rec.runId}`, [...(byRun.get(`${rec.workflowId}#${rec.runId}`) ?? []), rec]);
  const expected = new Set<string>();
  let checked = 0;
  for (const r of runs.filter((x) => ids.has(x.clientId) && x.status !== 'RUNNING')) {
    const key = `${r.workflowId}#${r.runId}`;
    const want = r.type === 'scheduledRotation' && r.scheduled?.outcome === 'rotation_started' ? 0 : 1;
    if (want === 1) expected.add(key);
    checked += 1;
    const got = byRun.get(key) ?? [];
    if (got.length !== want) {
      violations.push(`${key}: ${got.length} audit records, expected ${want}`);
      continue;
    }
    const status = r.type === 'pinRotation' ? r.rotation?.status : r.scheduled?.outcome;
    if (want === 1 && status && got[0].status !== status) violations.push(`${key}: audit says ${got[0].status}, the run ended ${status}`);
  }
  const seen = new Set(runs.map((r) => `${r.workflowId}#${r.runId}`));
  for (const key of byRun.keys()) if (!seen.has(key)) violations.push(`audit record for ${key}, a run this soak did not see`);
  return { name: 'one audit record per run', checked, unit: 'runs', violations, figure: `${mine.length} records for ${expected.size} runs that audit themselves` };
}

/** Workflow histories bounded: no run's history above `bound` events. */
export function checkHistories(clients: readonly SoakClient[], runs: readonly ObservedRun[], bound: number): CheckResult & { maxRotation: number; maxScheduled: number } {
  const ids = new Set(clients.map((c) => c.clientId));
  const mine = runs.filter((r) => ids.has(r.clientId));
  const max = (type: ObservedRun['type']): number => mine.filter((r) => r.type === type).reduce((m, r) => Math.max(m, r.historyLength), 0);
  const violations = mine.filter((r) => r.historyLength > bound).map((r) => `${r.workflowId} run ${r.runId}: ${r.historyLength} history events, over the bound ${bound}`);
  const maxRotation = max('pinRotation');
  const maxScheduled = max('scheduledRotation');
  return { name: `workflow histories bounded (≤ ${bound} events per run)`, checked: mine.length, unit: 'runs', violations, figure: `max ${maxRotation} events per rotation run, ${maxScheduled} per scheduled run`, maxRotation, maxScheduled };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Worker RSS flat: the median of the last third of the samples within `maxGrowth` of the first third's. */
export function checkRss(samplesKb: readonly number[], maxGrowth: number): CheckResult & { firstMb: number; lastMb: number; growth: number } {
  const third = Math.floor(samplesKb.length / 3);
  const first = median(samplesKb.slice(0, third));
  const last = median(samplesKb.slice(samplesKb.length - third));
  const growth = last / first - 1;
  const violations: string[] = [];
  if (third < 3) violations.push(`only ${samplesKb.length} RSS samples: too few to compare thirds`);
  else if (!(growth <= maxGrowth)) violations.push(`worker RSS grew ${(growth * 100).toFixed(1)}% from the first third (median ${(first / 1024).toFixed(1)} MB) to the last (${(last / 1024).toFixed(1)} MB), over ${(maxGrowth * 100).toFixed(0)}%`);
  return {
    name: `worker RSS flat (last third within ${(maxGrowth * 100).toFixed(0)}% of the first)`,
    checked: samplesKb.length,
    unit: 'samples',
    violations,
    figure: `median ${(first / 1024).toFixed(1)} MB → ${(last / 1024).toFixed(1)} MB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%)`,
    firstMb: first / 1024,
    lastMb: last / 1024,
    growth,
  };
}

export interface Deployment {
  clientId: string;
  at: string;
  sha256Spki: string;
}

/**
 * Finalize waits for the field: a rotation drops the fallback pin only after the client's field client has moved to
 * the new certificate (its deployment of the new primary precedes `rotation_finalized`). Under `drain` this must
 * hold for every rotation; under `time` the count of rotations that did not wait is the comparison.
 */
export function checkFinalizeAfterMove(
  clients: readonly SoakClient[],
  runs: readonly ObservedRun[],
  deliveries: readonly WebhookDelivery[],
  deployments: readonly Deployment[],
  versions: ReadonlyMap<string, readonly ClientVersion[]>,
): CheckResult & { early: number } {
  const ids = new Set(clients.map((c) => c.clientId));
  const violations: string[] = [];
  let checked = 0;
  let early = 0;
  for (const r of runs.filter((x) => x.type === 'pinRotation' && ids.has(x.clientId) && x.rotation?.status === 'finalized')) {
    const mine = deliveries.filter((d) => processed(d) && bodyOf(d).runId === r.runId);
    const announced = mine.find((d) => bodyOf(d).event === 'certificate_rotation');
    const finalized = mine.find((d) => bodyOf(d).event === 'rotation_finalized');
    const primary = ((announced?.body as { pins?: Array<{ role: string; sha256Spki: string }> } | undefined)?.pins ?? []).find((p) => p.role === 'primary');
    if (!announced || !finalized || !primary) continue;
    checked += 1;
    // The platform's own record of the write that dropped the fallback (its version history); else the notice.
    const drop = (versions.get(r.clientId) ?? []).find((v, i, all) => i > 0 && all[i - 1].pins.length > 1 && v.pins.length === 1 && v.pins[0].sha256Spki === primary.sha256Spki);
    const droppedAt = Date.parse(drop?.modifiedAt ?? finalized.receivedAt);
    const moved = deployments.filter((d) => d.clientId === r.clientId && d.sha256Spki === primary.sha256Spki).map((d) => Date.parse(d.at));
    const movedAt = moved.length ? Math.min(...moved) : Number.POSITIVE_INFINITY;
    if (movedAt > droppedAt) {
      early += 1;
      violations.push(`${r.workflowId} run ${r.runId}: fallback dropped at ${new Date(droppedAt).toISOString()}, ${Number.isFinite(movedAt) ? `the field client moved only at ${new Date(movedAt).toISOString()}` : 'before the field client moved'}`);
    }
  }
  return { name: 'the fallback pin is dropped only after the field client moved', checked, unit: 'finalized rotations', violations, figure: `${checked - early}/${checked} finalized after the field client moved (${early} before)`, early };
}

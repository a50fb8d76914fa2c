import type { AuditRecord } from '../src/activities/audit';
import type { AdminClientState, WebhookDelivery } from '../src/emulator/types';
import { pinsEqual } from '../src/pins/plan';
import type { Pin } from '../src/pins/types';
import { sameChain, type RotationOutcome, type RotationResult } from '../src/contract';

/**
 * The invariants a chaos run checks once every rotation has ended. Pure functions over what was observed (the
 * rotations' results, the emulator's raw client state, its webhook deliveries, the audit file), so each check is
 * unit-testable and the runner only gathers.
 */

/** What the driver does to a rotation, and so which outcome it must end in. */
export type RotationKind =
  /** overlap 0s: finalizes at once. */
  | 'immediate'
  /** a short overlap timer that must survive worker kills and the server restart. */
  | 'short-overlap'
  /** a long overlap ended by the `finalizeNow` signal. */
  | 'finalize-now'
  /** a long overlap ended by the `rollback` signal. */
  | 'rollback'
  /** a client with mTLS off: refused before anything is written. */
  | 'refused';

export const EXPECTED_OUTCOME: Record<RotationKind, Exclude<RotationOutcome, 'running'>> = {
  immediate: 'finalized',
  'short-overlap': 'finalized',
  'finalize-now': 'finalized',
  rollback: 'rolled_back',
  refused: 'refused',
};

export interface PlannedRotation {
  clientId: string;
  workflowId: string;
  kind: RotationKind;
  seeded: { certificateChain: string; pins: Pin[]; mtlsRequired: boolean };
  newChain: string;
  newPin: Pin;
}

export interface ObservedRotation extends PlannedRotation {
  /** Temporal's execution status name, e.g. COMPLETED; undefined when it never ended within the deadline. */
  executionStatus?: string;
  /** The run that ended (the last run of the workflow id). */
  runId?: string;
  result?: RotationResult;
}

export interface Violation {
  check: 'terminal' | 'outcome' | 'platform' | 'webhook' | 'audit' | 'worker';
  clientId?: string;
  message: string;
}

function samePin(a: Pin | undefined, b: Pin): boolean {
  return a !== undefined && a.role === b.role && a.sha256Spki === b.sha256Spki && a.sha256Certificate === b.sha256Certificate;
}

const PROCESSED = (d: WebhookDelivery): boolean => d.status >= 200 && d.status < 300 && !d.duplicate;

/** Every rotation ended, and in the outcome its kind asks for. */
export function checkOutcomes(rotations: readonly ObservedRotation[]): Violation[] {
  const out: Violation[] = [];
  for (const r of rotations) {
    if (r.executionStatus !== 'COMPLETED' || !r.result) {
      out.push({ check: 'terminal', clientId: r.clientId, message: `workflow ${r.workflowId} did not complete (execution status ${r.executionStatus ?? 'still running at the deadline'})` });
      continue;
    }
    const expected = EXPECTED_OUTCOME[r.kind];
    if (r.result.status !== expected) {
      const error = r.result.error ? ` (${r.result.error.code}: ${r.result.error.message})` : '';
      out.push({ check: 'outcome', clientId: r.clientId, message: `${r.kind} rotation ended ${r.result.status}, expected ${expected}${error}` });
    }
  }
  return out;
}

/** The platform holds exactly what each outcome implies. */
export function checkPlatform(rotations: readonly ObservedRotation[], clients: ReadonlyMap<string, AdminClientState>): Violation[] {
  const out: Violation[] = [];
  for (const r of rotations) {
    const client = clients.get(r.clientId);
    const fail = (message: string): void => {
      out.push({ check: 'platform', clientId: r.clientId, message });
    };
    if (!client) {
      fail('client is gone from the platform');
      continue;
    }
    if (client.mtlsRequired !== r.seeded.mtlsRequired) fail(`mtlsRequired changed to ${client.mtlsRequired}`);
    const status = r.result?.status;
    if (status === 'finalized') {
      if (client.pins.length !== 1 || !samePin(client.pins[0], r.newPin)) {
        fail(`finalized but the platform pins are [${client.pins.map((p) => `${p.role} ${p.sha256Spki}`).join(', ')}], expected exactly the new primary ${r.newPin.sha256Spki}`);
      }
      if (!sameChain(client.certificateChain, r.newChain)) fail('finalized but the platform chain is not the new chain');
      if (r.result && !pinsEqual(r.result.pins, client.pins)) fail('the workflow result reports other pins than the platform holds');
    } else if (status === 'rolled_back' || status === 'refused' || status === 'failed') {
      if (!sameChain(client.certificateChain, r.seeded.certificateChain) || !pinsEqual(client.pins, r.seeded.pins)) {
        fail(`${status} but the platform does not hold the seeded chain and pins (pins now [${client.pins.map((p) => `${p.role} ${p.sha256Spki}`).join(', ')}])`);
      }
      if (status === 'refused' && client.version !== 1) fail(`refused but the client was written (version ${client.version})`);
    } else if (status !== undefined) {
      fail(`unexpected terminal status ${status}`);
    }
  }
  return out;
}

/**
 * The PKI receiver: every delivery authenticated and signed; no Idempotency-Key processed twice; a delivery answered
 * as a duplicate is a redelivery of the same event of the same run (else a distinct event was swallowed); each
 * rotation's events processed exactly once, by the run that ended.
 */
export function checkWebhooks(rotations: readonly ObservedRotation[], deliveries: readonly WebhookDelivery[]): Violation[] {
  const out: Violation[] = [];
  const byKey = new Map<string, WebhookDelivery[]>();
  for (const d of deliveries) {
    if (!d.tokenValid || !d.signatureValid) out.push({ check: 'webhook', message: `delivery ${d.seq} (${d.idempotencyKey ?? 'no key'}) had an invalid token or signature` });
    if (!d.idempotencyKey) continue;
    const list = byKey.get(d.idempotencyKey) ?? [];
    list.push(d);
    byKey.set(d.idempotencyKey, list);
  }
  for (const [key, list] of byKey) {
    const processed = list.filter(PROCESSED);
    if (processed.length > 1) out.push({ check: 'webhook', message: `Idempotency-Key ${key} was processed ${processed.length} times` });
    const first = processed[0]?.body as { runId?: string; event?: string } | undefined;
    for (const d of list.filter((x) => x.duplicate)) {
      const body = d.body as { runId?: string; event?: string } | undefined;
      if (first && (body?.runId !== first.runId || body?.event !== first.event)) {
        out.push({ check: 'webhook', message: `Idempotency-Key ${key} was reused by a different event (run ${body?.runId} ${body?.event} vs run ${first.runId} ${first.event}): the receiver dropped it as a duplicate` });
      }
    }
  }
  for (const r of rotations) {
    if (!r.result) continue;
    const mine = deliveries.filter((d) => PROCESSED(d) && (d.body as { workflowId?: string } | undefined)?.workflowId === r.workflowId);
    const events = mine.map((d) => (d.body as { event: string }).event);
    const required: string[] = r.result.status === 'finalized' ? ['certificate_rotation', 'rotation_finalized'] : r.result.status === 'rolled_back' ? ['rotation_rolled_back'] : [];
    const allowed = r.result.status === 'rolled_back' ? [...required, 'certificate_rotation'] : required;
    for (const event of required) {
      const n = events.filter((e) => e === event).length;
      if (n !== 1) out.push({ check: 'webhook', clientId: r.clientId, message: `${r.result.status}: ${event} processed ${n} times, expected once` });
    }
    for (const event of events) {
      if (!allowed.includes(event)) out.push({ check: 'webhook', clientId: r.clientId, message: `${r.result.status}: unexpected ${event} processed` });
    }
    for (const d of mine) {
      const body = d.body as { runId?: string; event?: string; pins?: Pin[] };
      if (r.runId && body.runId !== r.runId) out.push({ check: 'webhook', clientId: r.clientId, message: `${body.event} came from run ${body.runId}, not the run that ended (${r.runId})` });
      if (body.event === 'rotation_finalized' && !pinsEqual(body.pins ?? [], r.result.pins)) {
        out.push({ check: 'webhook', clientId: r.clientId, message: 'rotation_finalized announced other pins than the rotation ended with' });
      }
    }
  }
  return out;
}

/** The audit file is whole JSON lines, with exactly one record per rotation run, matching its outcome. */
export function checkAudit(rotations: readonly ObservedRotation[], auditText: string): Violation[] {
  const out: Violation[] = [];
  const records: AuditRecord[] = [];
  for (const [i, line] of auditText.split('\n').entries()) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as AuditRecord);
    } catch {
      out.push({ check: 'audit', message: `audit line ${i + 1} is not JSON (torn write?): ${line.slice(0, 120)}` });
    }
  }
  const known = new Set(rotations.map((r) => r.workflowId));
  for (const rec of records) {
    if (!known.has(rec.workflowId)) out.push({ check: 'audit', message: `audit record for a workflow this run did not start: ${rec.workflowId}` });
  }
  for (const r of rotations) {
    if (!r.result) continue;
    const mine = records.filter((rec) => rec.workflowId === r.workflowId);
    const keys = new Set(mine.map((rec) => `${rec.workflowId}#${rec.runId}`));
    if (mine.length !== 1) {
      out.push({ check: 'audit', clientId: r.clientId, message: `${mine.length} audit records (${keys.size} distinct workflowId#runId), expected exactly one` });
      continue;
    }
    const rec = mine[0];
    if (r.runId && rec.runId !== r.runId) out.push({ check: 'audit', clientId: r.clientId, message: `the audit record is of run ${rec.runId}, not the run that ended (${r.runId})` });
    if (rec.status !== r.result.status) out.push({ check: 'audit', clientId: r.clientId, message: `audit says ${rec.status}, the workflow ended ${r.result.status}` });
    if (!pinsEqual(rec.pins, r.result.pins)) out.push({ check: 'audit', clientId: r.clientId, message: 'the audit record has other pins than the workflow result' });
  }
  return out;
}

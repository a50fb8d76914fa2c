import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { ClientIdKey, RotationStatusKey, ServiceIdKey, type RotationPhase, type RotationStatus } from '../../contract';

/**
 * What a rotation shows of itself: the `status` query's answer, the UI's current details and the search
 * attributes. Every phase change goes through `enter`, so the three never disagree.
 */
export class RotationState {
  readonly status: RotationStatus;
  private shownStatus = '';

  /** `withSearchAttributes` is false while replaying runs recorded before the search attributes existed. */
  constructor(
    init: { workflowId: string; runId: string; clientId: string; serviceId: string; startedAt: number },
    private readonly withSearchAttributes: boolean,
  ) {
    this.status = {
      workflowId: init.workflowId,
      runId: init.runId,
      clientId: init.clientId,
      serviceId: init.serviceId,
      phase: 'preflight',
      status: 'running',
      pinsBefore: [],
      plannedPins: [],
      pins: [],
      pinMatchRate: null,
      latencyMs: null,
      attempts: {},
      lastError: null,
      timestamps: { started: new Date(init.startedAt).toISOString() },
      refusedActions: [],
    };
  }

  get phase(): RotationPhase {
    return this.status.phase;
  }

  enter(phase: RotationPhase): void {
    const s = this.status;
    s.phase = phase;
    this.upsertSearchAttributes();
    s.timestamps[phase] = new Date().toISOString();
    s.attempts[phase] = (s.attempts[phase] ?? 0) + 1;
    this.showDetails();
  }

  /** RotationStatus reads as the outcome once there is one, else as the phase (e.g. `applying`); upserted on change. */
  private upsertSearchAttributes(): void {
    const s = this.status;
    // A live rotation reads `rotated` through its overlap, and `draining` while it waits for the old certificate to go quiet.
    const shown = s.status === 'running' || (s.status === 'rotated' && s.phase === 'draining') ? s.phase : s.status;
    if (!this.withSearchAttributes || `${shown}|${s.serviceId}` === this.shownStatus || !s.clientId) return;
    this.shownStatus = `${shown}|${s.serviceId}`;
    upsertSearchAttributes([
      { key: ClientIdKey, value: s.clientId },
      { key: ServiceIdKey, value: s.serviceId || s.clientId },
      { key: RotationStatusKey, value: shown },
    ]);
  }

  /**
   * The UI's current details: short lines that fit the panel (Temporal UI renders them as Markdown). Hard line
   * breaks ("  \n"), not paragraphs: paragraph margins would push the last line, the one a reader acts on, out of view.
   */
  showDetails(): void {
    setCurrentDetails(detailLines(this.status).join('  \n'));
  }
}

const short = (spki: string): string => `${spki.slice(0, 10)}…`;
const clip = (text: string, max = 110): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
/** `2026-11-30T22:51:04.123Z` → `11-30 22:51:04Z`: enough to read, short enough to fit. */
const at = (iso: string | null | undefined): string => (iso ? `${iso.slice(5, 10)} ${iso.slice(11, 19)}Z` : 'never');

export function detailLines(s: RotationStatus): string[] {
  const live = s.timestamps.applied !== undefined && s.pins.length > 0 && s.status !== 'rolled_back' && s.phase !== 'compensating';
  const pins = live ? s.pins : s.plannedPins;
  const d = s.drain;
  const lines = [
    `**\`${s.clientId}\`**: phase \`${s.phase}\`, \`${s.status}\``,
    pins.length ? `${live ? 'live' : 'planned'} pins: ${pins.map((p) => `${p.role} ${short(p.sha256Spki)}`).join(', ')}` : '',
  ];
  if (d && s.status === 'rotated') {
    if (d.state === 'overlap') lines.push(`overlap ends ${at(s.overlapEndsAt)}, then ${d.policy === 'drain' ? 'drain' : 'finalize'}`);
    else if (d.state === 'draining') lines.push(`draining: old cert last seen ${at(d.fallbackLastSeen)}, next check ${at(d.nextCheckAt)}`);
    else if (d.state === 'awaiting_operator') lines.push(`max overlap reached, old cert in use: **waiting for an operator** (finalize --force or rollback)`);
    if (d.state === 'draining') lines.push(`gives up re-checking at ${at(d.maxOverlapAt)} (max overlap)`);
  } else if (s.overlapEndsAt && s.status === 'rotated') lines.push(`overlap ends ${at(s.overlapEndsAt)}`);
  if (s.pinMatch) lines.push(`pin match ${s.pinMatchRate === null ? 'n/a (no traffic)' : `${Math.round(s.pinMatchRate * 1000) / 10}%`} (${s.pinMatch.accepted} ok, ${s.pinMatch.rejected} rejected)`);
  if (s.approval) lines.push(`approved by ${clip(s.approval.by, 60)}`);
  if (s.warnings?.length) lines.push(`warning: ${clip(s.warnings[s.warnings.length - 1], 70)}`);
  // Last: the line a reader acts on.
  if (s.lastError) lines.push(`last error: ${clip(`${s.lastError.code}: ${s.lastError.message}`, 70)}`);
  return lines.filter(Boolean);
}

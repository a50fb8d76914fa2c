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

  /** RotationStatus reads as the outcome once there is one, else as the phase (e.g. `overlap`); upserted on change. */
  private upsertSearchAttributes(): void {
    const s = this.status;
    const shown = s.status === 'running' ? s.phase : s.status;
    if (!this.withSearchAttributes || `${shown}|${s.serviceId}` === this.shownStatus || !s.clientId) return;
    this.shownStatus = `${shown}|${s.serviceId}`;
    upsertSearchAttributes([
      { key: ClientIdKey, value: s.clientId },
      { key: ServiceIdKey, value: s.serviceId || s.clientId },
      { key: RotationStatusKey, value: shown },
    ]);
  }

  showDetails(): void {
    const s = this.status;
    setCurrentDetails(
      [
        `**Rotation of \`${s.clientId}\`**: phase \`${s.phase}\`, status \`${s.status}\``,
        s.plannedPins.length ? `planned pins: ${s.plannedPins.map((p) => `${p.role} ${p.sha256Spki}`).join(', ')}` : '',
        s.overlapEndsAt ? `overlap ends ${s.overlapEndsAt}` : '',
        s.approval ? `approved by ${s.approval.by}` : '',
        s.lastError ? `last error: ${s.lastError.code}: ${s.lastError.message}` : '',
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }
}

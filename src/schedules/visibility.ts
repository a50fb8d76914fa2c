import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import {
  clientIdOfSchedule,
  ClientIdKey,
  INVENTORY_SCHEDULE_ID,
  ROTATION_ID_PREFIX,
  RotationStatusKey,
  statusQuery,
  WORKFLOW_TYPE,
  type RotationStatus,
} from '../contract';

/**
 * What Temporal knows about the fleet, read through visibility (search attributes ClientId and RotationStatus) and
 * the schedule list: the inventory activity and the CLI join it with the platform's clients. An interface, so the
 * activity's tests pass a fake instead of a server.
 */

export interface RotationRun {
  clientId: string;
  workflowId: string;
  runId: string;
  /** RotationStatus: the phase while running, the outcome once ended; null when not recorded yet. */
  status: string | null;
  /** RUNNING, COMPLETED, FAILED, TERMINATED, … */
  executionStatus: string;
  startedAt: string;
  closedAt: string | null;
}

export interface ScheduleCoverage {
  clientId: string;
  scheduleId: string;
  paused: boolean;
  note: string | null;
  /** Null when paused or when the spec has no next time. */
  nextRunAt: string | null;
}

export interface FleetView {
  /** Every rotation workflow running now. */
  runningRotations(): Promise<RotationRun[]>;
  /** The latest rotation of each client (running or closed), by client id. */
  latestRotations(filter?: { clientPrefix?: string }): Promise<Map<string, RotationRun>>;
  /** Rotations that ended failed (RotationStatus `failed` or a failed workflow) since then. */
  countFailedSince(since: Date): Promise<number>;
  /** The status query of a running rotation; undefined when it cannot answer (gone, no worker). */
  rotationStatus(workflowId: string, runId: string): Promise<RotationStatus | undefined>;
  /** Every client's rotation schedule. */
  schedules(): Promise<ScheduleCoverage[]>;
}

/** Visibility queries only ever embed values from this alphabet, so they cannot be broken out of. */
const SAFE_VALUE = /^[A-Za-z0-9._:-]*$/;

export function queryValue(value: string, what: string): string {
  if (!SAFE_VALUE.test(value)) throw new Error(`${what} may only hold letters, digits, ".", "_", ":" or "-" (got ${JSON.stringify(value)})`);
  return `'${value}'`;
}

export interface RotationListFilter {
  /** A RotationStatus value, or `running` for every running rotation. */
  status?: string;
  clientPrefix?: string;
  /** Only rotations started (running) or closed (ended) after this. */
  since?: Date;
}

/** The visibility query for rotations by RotationStatus and client prefix. */
export function rotationListQuery(filter: RotationListFilter): string {
  const parts = [`WorkflowType = ${queryValue(WORKFLOW_TYPE, 'workflow type')}`];
  if (filter.status === 'running') parts.push(`ExecutionStatus = 'Running'`);
  else if (filter.status === 'failed') parts.push(`(${RotationStatusKey.name} = 'failed' OR ExecutionStatus = 'Failed')`);
  else if (filter.status) parts.push(`${RotationStatusKey.name} = ${queryValue(filter.status, 'status')}`);
  if (filter.clientPrefix) parts.push(`${ClientIdKey.name} STARTS_WITH ${queryValue(filter.clientPrefix, 'client prefix')}`);
  if (filter.since) parts.push(`${filter.status === 'running' || !filter.status ? 'StartTime' : 'CloseTime'} > '${filter.since.toISOString()}'`);
  return parts.join(' AND ');
}

export function rotationRunOf(info: WorkflowExecutionInfo): RotationRun {
  const clientId =
    info.typedSearchAttributes.get(ClientIdKey) ?? (info.workflowId.startsWith(ROTATION_ID_PREFIX) ? info.workflowId.slice(ROTATION_ID_PREFIX.length) : info.workflowId);
  return {
    clientId,
    workflowId: info.workflowId,
    runId: info.runId,
    status: info.typedSearchAttributes.get(RotationStatusKey) ?? null,
    executionStatus: info.status.name,
    startedAt: info.startTime.toISOString(),
    closedAt: info.closeTime ? info.closeTime.toISOString() : null,
  };
}

export async function listRotations(client: Client, filter: RotationListFilter, limit = Number.POSITIVE_INFINITY): Promise<RotationRun[]> {
  const runs: RotationRun[] = [];
  for await (const info of client.workflow.list({ query: rotationListQuery(filter) })) {
    runs.push(rotationRunOf(info));
    if (runs.length >= limit) break;
  }
  return runs;
}

export function temporalFleetView(client: Client): FleetView {
  return {
    runningRotations: () => listRotations(client, { status: 'running' }),

    async latestRotations(filter = {}) {
      const latest = new Map<string, RotationRun>();
      for (const run of await listRotations(client, { clientPrefix: filter.clientPrefix })) {
        const seen = latest.get(run.clientId);
        // A running one wins; otherwise the most recently started.
        if (!seen || (seen.executionStatus !== 'RUNNING' && (run.executionStatus === 'RUNNING' || run.startedAt > seen.startedAt))) latest.set(run.clientId, run);
      }
      return latest;
    },

    async countFailedSince(since) {
      return (await client.workflow.count(rotationListQuery({ status: 'failed', since }))).count;
    },

    async rotationStatus(workflowId, runId) {
      try {
        return await client.workflow.getHandle(workflowId, runId).query(statusQuery);
      } catch {
        return undefined;
      }
    },

    async schedules() {
      const out: ScheduleCoverage[] = [];
      for await (const s of client.schedule.list()) {
        const clientId = clientIdOfSchedule(s.scheduleId);
        if (!clientId || s.scheduleId === INVENTORY_SCHEDULE_ID) continue;
        const next = s.state.paused ? undefined : s.info.nextActionTimes[0];
        out.push({ clientId, scheduleId: s.scheduleId, paused: s.state.paused, note: s.state.note ?? null, nextRunAt: next ? next.toISOString() : null });
      }
      return out;
    },
  };
}

import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { formatDuration, parseDuration } from '../pins/duration';
import { ClientIdKey, RotationStatusKey, ServiceIdKey } from '../contract';
import { TASK_QUEUE, type RotationResult } from '../contract';
import {
  clientIdOfSchedule,
  DEFAULT_OVERLAP,
  DEFAULT_RENEW_WITHIN,
  rotationScheduleId,
  SCHEDULE_ID_PREFIX,
  SCHEDULED_WORKFLOW_TYPE,
  scheduledRunWorkflowId,
  type RotationScheduleMemo,
  type RotationScheduleSpec,
  type ScheduledRotationInput,
  type ScheduledRotationResult,
} from '../contract';

/** The client side of rotation schedules (Temporal Schedules): create, list, describe. Used by the CLI and tests. */

export class RotationScheduleExistsError extends Error {
  constructor(readonly scheduleId: string) {
    super(`a schedule for this client already exists (${scheduleId}); delete it first or change it in the Temporal UI`);
    this.name = 'RotationScheduleExistsError';
  }
}

export class RotationScheduleNotFoundError extends Error {
  constructor(readonly scheduleId: string) {
    super(`no schedule ${scheduleId}`);
    this.name = 'RotationScheduleNotFoundError';
  }
}

/** The server refused the spec (e.g. a malformed cron expression). */
export class InvalidScheduleSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidScheduleSpecError';
  }
}

export interface CreateRotationScheduleOptions extends ScheduledRotationInput {
  spec: RotationScheduleSpec;
  paused?: boolean;
  note?: string;
  taskQueue?: string;
}

function compileSpec(spec: RotationScheduleSpec): ScheduleSpec {
  // Our duration syntax (`1d12h`), not the SDK's: the same words the rest of the CLI accepts.
  return 'every' in spec ? { intervals: [{ every: parseDuration(spec.every) }] } : { cronExpressions: [spec.cron] };
}

export function specText(spec: RotationScheduleSpec): string {
  return 'every' in spec ? `every ${spec.every}` : `cron ${spec.cron}`;
}

/** Turns "not found" into our own error, so callers need not know the SDK's. */
async function known<T>(scheduleId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new RotationScheduleNotFoundError(scheduleId);
    throw err;
  }
}

interface RotationActionOptions extends ScheduledRotationInput {
  spec: RotationScheduleSpec;
  taskQueue: string;
}

/** The schedule's action and memo from its fields: `create` and `update` build them the same way. */
function rotationAction(opts: RotationActionOptions) {
  const serviceId = opts.serviceId ?? opts.clientId;
  const renewWithin = opts.renewWithin ?? DEFAULT_RENEW_WITHIN;
  const overlap = opts.overlap ?? DEFAULT_OVERLAP;
  // overlap and renewWithin are explicit, so every run does what `create` showed, whatever later versions choose
  // as defaults. The memo (what `list` and `describe` show) holds the same fields and the spec.
  const shared = {
    clientId: opts.clientId,
    certSource: opts.certSource,
    ...(opts.serviceId ? { serviceId: opts.serviceId } : {}),
    overlap,
    renewWithin,
  };
  const drain = {
    ...(opts.finalizePolicy ? { finalizePolicy: opts.finalizePolicy } : {}),
    ...(opts.drainQuiet ? { drainQuiet: opts.drainQuiet } : {}),
    ...(opts.maxOverlap ? { maxOverlap: opts.maxOverlap } : {}),
  };
  const input: ScheduledRotationInput = { ...shared, ...drain, ...(opts.retry ? { retry: opts.retry } : {}) };
  const memo: RotationScheduleMemo = { ...shared, spec: opts.spec };
  const searchAttributes = [
    { key: ClientIdKey, value: opts.clientId },
    { key: ServiceIdKey, value: serviceId },
  ];
  const action: ScheduleOptionsStartWorkflowAction<Workflow> = {
    type: 'startWorkflow',
    workflowType: SCHEDULED_WORKFLOW_TYPE,
    workflowId: scheduledRunWorkflowId(opts.clientId),
    taskQueue: opts.taskQueue,
    args: [input],
    typedSearchAttributes: searchAttributes,
    memo: { ...memo },
    staticSummary: `Scheduled pin rotation check of ${opts.clientId}`,
    staticDetails: [
      `Rotates \`${opts.clientId}\` when its deployed certificate expires within ${renewWithin} or the source holds a different one.`,
      `source: \`${opts.certSource}\`, overlap: ${overlap}, service: ${serviceId}`,
      `The rotation itself runs as \`pin-rotation-${opts.clientId}\`.`,
    ].join('\n\n'),
    // A run normally takes seconds; a stuck one must not hold the schedule (overlap SKIP) for ever.
    workflowRunTimeout: '1h',
  };
  return { action, memo, searchAttributes };
}

export async function createRotationSchedule(client: Client, opts: CreateRotationScheduleOptions): Promise<ScheduleHandle> {
  const scheduleId = rotationScheduleId(opts.clientId);
  const { action, memo, searchAttributes } = rotationAction({ ...opts, taskQueue: opts.taskQueue ?? TASK_QUEUE });
  try {
    return await client.schedule.create({
      scheduleId,
      spec: compileSpec(opts.spec),
      action,
      // A scheduled run still going when the next is due: skip the new one. Rotations themselves are kept to one
      // per client by their workflow id, whoever starts them.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { paused: Boolean(opts.paused), ...(opts.note || opts.paused ? { note: opts.note ?? 'created paused' } : {}) },
      memo: { ...memo },
      typedSearchAttributes: searchAttributes,
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new RotationScheduleExistsError(scheduleId);
    // The SDK reports a spec the server refused as a TypeError carrying the server's reason.
    if (err instanceof TypeError) throw new InvalidScheduleSpecError(err.message);
    throw err;
  }
}

/** What `update` may change; what is not given stays as it is. */
export interface RotationScheduleChanges {
  spec?: RotationScheduleSpec;
  certSource?: string;
  serviceId?: string;
  overlap?: string;
  renewWithin?: string;
}

/**
 * Changes an existing schedule's spec, source, overlap, renewal window or service in place (its id, history of
 * runs and paused state stay). The action's memo carries the spec as written, since a schedule's own memo
 * cannot be updated.
 */
export async function updateRotationSchedule(client: Client, clientId: string, changes: RotationScheduleChanges): Promise<RotationScheduleView> {
  const scheduleId = rotationScheduleId(clientId);
  const handle = client.schedule.getHandle(scheduleId);
  try {
    await known(scheduleId, () =>
      handle.update((prev) => {
        const view = viewOf(prev);
        const current = (prev.action.args?.[0] ?? {}) as Partial<ScheduledRotationInput>;
        const spec = changes.spec ?? view.spec;
        if (!spec) throw new InvalidScheduleSpecError('the schedule has a spec this command did not write; give --every or --cron');
        const { action } = rotationAction({
          clientId,
          certSource: changes.certSource ?? view.certSource ?? '',
          ...((changes.serviceId ?? current.serviceId) ? { serviceId: changes.serviceId ?? current.serviceId } : {}),
          overlap: changes.overlap ?? view.overlap,
          renewWithin: changes.renewWithin ?? view.renewWithin,
          ...(current.retry ? { retry: current.retry } : {}),
          spec,
          taskQueue: prev.action.taskQueue ?? TASK_QUEUE,
        });
        return { ...prev, spec: changes.spec ? compileSpec(changes.spec) : prev.spec, action };
      }),
    );
  } catch (err) {
    if (err instanceof TypeError) throw new InvalidScheduleSpecError(err.message);
    throw err;
  }
  return viewOf(await handle.describe());
}

export function rotationScheduleHandle(client: Client, clientId: string): ScheduleHandle {
  return client.schedule.getHandle(rotationScheduleId(clientId));
}

export interface RotationScheduleView {
  scheduleId: string;
  clientId: string;
  spec: RotationScheduleSpec | null;
  paused: boolean;
  note: string | null;
  certSource: string | null;
  serviceId: string;
  overlap: string;
  renewWithin: string;
  taskQueue: string | null;
  nextActionTimes: string[];
  numActionsTaken: number;
  numActionsSkippedOverlap: number;
  createdAt: string;
  lastActionAt: string | null;
}

/**
 * The spec as written at `create` (the memo) while it still matches what the server runs; the server's own when
 * the schedule was changed elsewhere. A cron expression comes back compiled to calendars, so it is only shown as
 * written.
 */
function specOf(d: ScheduleDescription, memo: Partial<RotationScheduleMemo>): RotationScheduleSpec | null {
  const every = d.spec.intervals?.length === 1 && !d.spec.calendars?.length ? d.spec.intervals[0].every : undefined;
  if (every !== undefined) {
    const written = memo.spec && 'every' in memo.spec ? memo.spec.every : undefined;
    return { every: written !== undefined && safeDuration(written) === every ? written : formatDuration(every) };
  }
  if (memo.spec && 'cron' in memo.spec && !d.spec.intervals?.length) return memo.spec;
  return null;
}

function safeDuration(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

export function viewOf(d: ScheduleDescription): RotationScheduleView {
  // The action's memo is rewritten by `update`; the schedule's own memo keeps what `create` wrote.
  const memo = { ...(d.memo ?? {}), ...(d.action.memo ?? {}) } as Partial<RotationScheduleMemo>;
  const input = (d.action.args?.[0] ?? {}) as Partial<ScheduledRotationInput>;
  const clientId = input.clientId ?? memo.clientId ?? clientIdOfSchedule(d.scheduleId) ?? '';
  const last = d.info.recentActions.at(-1);
  return {
    scheduleId: d.scheduleId,
    clientId,
    spec: specOf(d, memo),
    paused: d.state.paused,
    note: d.state.note ?? null,
    // The action's input is what runs; the memo is only its description.
    certSource: input.certSource ?? memo.certSource ?? null,
    serviceId: input.serviceId ?? clientId,
    overlap: input.overlap ?? DEFAULT_OVERLAP,
    renewWithin: input.renewWithin ?? DEFAULT_RENEW_WITHIN,
    taskQueue: d.action.taskQueue ?? null,
    nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    numActionsTaken: d.info.numActionsTaken,
    numActionsSkippedOverlap: d.info.numActionsSkippedOverlap,
    createdAt: d.info.createdAt.toISOString(),
    lastActionAt: last ? last.takenAt.toISOString() : null,
  };
}

/** Every rotation schedule of the namespace, by client id. Listing is eventually consistent; each is then described. */
export async function listRotationSchedules(client: Client): Promise<RotationScheduleView[]> {
  const ids: string[] = [];
  for await (const summary of client.schedule.list()) {
    if (summary.scheduleId.startsWith(SCHEDULE_ID_PREFIX)) ids.push(summary.scheduleId);
  }
  const views = await Promise.all(
    ids.map(async (id) => {
      try {
        return viewOf(await client.schedule.getHandle(id).describe());
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) return undefined; // deleted since the listing
        throw err;
      }
    }),
  );
  return views.filter((v): v is RotationScheduleView => v !== undefined).sort((a, b) => a.clientId.localeCompare(b.clientId));
}

export interface ScheduledActionView {
  scheduledAt: string;
  takenAt: string;
  workflowId: string;
  runId: string;
  /** RUNNING, COMPLETED, FAILED, TIMED_OUT, … or UNKNOWN when the run is gone (retention). */
  workflowStatus: string;
  outcome: ScheduledRotationResult['outcome'] | null;
  code: string | null;
  reason: string | null;
  /** The rotation the run started, and where it stands now. */
  rotation?: { workflowId: string; runId: string; workflowStatus: string; status: string | null };
}

export interface RotationScheduleDetails extends RotationScheduleView {
  recentActions: ScheduledActionView[];
  runningActions: Array<{ workflowId: string; runId: string }>;
}

async function rotationView(client: Client, workflowId: string, runId: string): Promise<NonNullable<ScheduledActionView['rotation']>> {
  try {
    const handle = client.workflow.getHandle(workflowId, runId);
    const d = await handle.describe();
    let status: string | null = d.typedSearchAttributes.get(RotationStatusKey) ?? null;
    if (d.status.name === 'COMPLETED') status = ((await handle.result()) as RotationResult).status;
    return { workflowId, runId, workflowStatus: d.status.name, status };
  } catch {
    return { workflowId, runId, workflowStatus: 'UNKNOWN', status: null };
  }
}

/** What happened to one scheduled run: read from Temporal alone (describe and the recorded result), no worker needed. */
export async function scheduledActionView(client: Client, action: { scheduledAt: Date; takenAt: Date; workflowId: string; runId: string }): Promise<ScheduledActionView> {
  const view: ScheduledActionView = {
    scheduledAt: action.scheduledAt.toISOString(),
    takenAt: action.takenAt.toISOString(),
    workflowId: action.workflowId,
    runId: action.runId,
    workflowStatus: 'UNKNOWN',
    outcome: null,
    code: null,
    reason: null,
  };
  try {
    const handle = client.workflow.getHandle(action.workflowId, action.runId);
    const d = await handle.describe();
    view.workflowStatus = d.status.name;
    if (d.status.name !== 'COMPLETED') return view;
    const result = (await handle.result()) as ScheduledRotationResult;
    view.outcome = result.outcome;
    view.code = result.code;
    view.reason = result.reason;
    if (result.rotationRunId) view.rotation = await rotationView(client, result.rotationWorkflowId, result.rotationRunId);
  } catch {
    // Gone (retention) or unreadable: the schedule still says it was taken.
  }
  return view;
}

export async function describeRotationSchedule(client: Client, clientId: string): Promise<RotationScheduleDetails> {
  const scheduleId = rotationScheduleId(clientId);
  const d = await known(scheduleId, () => client.schedule.getHandle(scheduleId).describe());
  const recentActions = await Promise.all(
    d.info.recentActions.map((a) =>
      scheduledActionView(client, { scheduledAt: a.scheduledAt, takenAt: a.takenAt, workflowId: a.action.workflow.workflowId, runId: a.action.workflow.firstExecutionRunId }),
    ),
  );
  return {
    ...viewOf(d),
    recentActions,
    runningActions: d.info.runningActions.map((a) => ({ workflowId: a.workflow.workflowId, runId: a.workflow.firstExecutionRunId })),
  };
}

export async function pauseRotationSchedule(client: Client, clientId: string, note?: string): Promise<void> {
  const scheduleId = rotationScheduleId(clientId);
  await known(scheduleId, () => client.schedule.getHandle(scheduleId).pause(note ?? 'paused with pinrotate schedule pause'));
}

export async function unpauseRotationSchedule(client: Client, clientId: string, note?: string): Promise<void> {
  const scheduleId = rotationScheduleId(clientId);
  await known(scheduleId, () => client.schedule.getHandle(scheduleId).unpause(note ?? 'unpaused with pinrotate schedule unpause'));
}

/** A paused schedule (a change freeze) is not triggered unless the operator forces it. */
export class RotationSchedulePausedError extends Error {
  constructor(readonly scheduleId: string, readonly note: string | null) {
    super(`schedule ${scheduleId} is paused${note ? ` (${note})` : ''}: a paused schedule is a change freeze; trigger it with --force to run it anyway, or unpause it`);
    this.name = 'RotationSchedulePausedError';
  }
}

/**
 * Takes one action now. The trigger allows overlap with a scheduled run still going (the SDK default, ALLOW_ALL):
 * an operator's explicit request is never dropped silently, and a second rotation of the client is still
 * impossible: its run ends `skipped` at the rotation's fixed workflow id. A paused schedule is refused unless
 * `force` (its state is read just before; a pause landing in between is not seen).
 */
export async function triggerRotationSchedule(client: Client, clientId: string, opts: { force?: boolean } = {}): Promise<{ paused: boolean }> {
  const scheduleId = rotationScheduleId(clientId);
  const handle = client.schedule.getHandle(scheduleId);
  const d = await known(scheduleId, () => handle.describe());
  if (d.state.paused && !opts.force) throw new RotationSchedulePausedError(scheduleId, d.state.note ?? null);
  await known(scheduleId, () => handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL));
  return { paused: d.state.paused };
}

/** Deletes the schedule only: a rotation it started keeps running (and can be followed with `pinrotate status`). */
export async function deleteRotationSchedule(client: Client, clientId: string): Promise<void> {
  const scheduleId = rotationScheduleId(clientId);
  await known(scheduleId, () => client.schedule.getHandle(scheduleId).delete());
}

/**
 * Names a rotation is found by: workflow types, workflow and schedule ids, task queues. Ids carry no `/`, so
 * Temporal's HTTP API can address them in a path (DESIGN.md §4 Ids).
 */

export const TASK_QUEUE = 'pin-rotation';

/** Platform calls run on their own queue, whose rate the server caps for all workers together. */
export function platformTaskQueue(taskQueue: string): string {
  return `${taskQueue}-platform`;
}

export const WORKFLOW_TYPE = 'pinRotation';
export const FLEET_WORKFLOW_TYPE = 'fleetRotation';
export const SCHEDULED_WORKFLOW_TYPE = 'scheduledRotation';

/** Client ids: what the platform accepts and what fits a workflow id, a search attribute and a log line. */
export const CLIENT_ID_MAX_LENGTH = 128;
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const CLIENT_ID_RULE = `1-${CLIENT_ID_MAX_LENGTH} characters of letters, digits, ".", "_" or "-", starting with a letter or digit`;

export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID_PATTERN.test(value);
}

export const FLEET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const ROTATION_ID_PREFIX = 'pin-rotation-';
export const FLEET_ID_PREFIX = 'pin-fleet-';
export const SCHEDULE_ID_PREFIX = 'pin-rotation-schedule-';

/** At most one rotation per client runs under this id, whoever starts it. */
export function rotationWorkflowId(clientId: string): string {
  return `${ROTATION_ID_PREFIX}${clientId}`;
}

export function fleetWorkflowId(fleetId: string): string {
  return `${FLEET_ID_PREFIX}${fleetId}`;
}

/** One schedule per client. */
export function rotationScheduleId(clientId: string): string {
  return `${SCHEDULE_ID_PREFIX}${clientId}`;
}

export function clientIdOfSchedule(scheduleId: string): string | undefined {
  return scheduleId.startsWith(SCHEDULE_ID_PREFIX) ? scheduleId.slice(SCHEDULE_ID_PREFIX.length) : undefined;
}

/** The workflow id a schedule gives its runs; the server appends the scheduled time to it. */
export function scheduledRunWorkflowId(clientId: string): string {
  return `scheduled-rotation-${clientId}`;
}

/** Ids before DESIGN.md §4 changed them: children started by runs recorded then keep their ids on replay. */
export const legacyIds = {
  rotation: (clientId: string): string => `pin-rotation/${clientId}`,
  scheduledRun: (clientId: string): string => `scheduled-rotation/${clientId}`,
};

import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { parseDuration } from '../pins/duration';
import {
  DEFAULT_INVENTORY_EVERY,
  INVENTORY_SCHEDULE_ID,
  INVENTORY_SCHEDULED_WORKFLOW_ID,
  INVENTORY_WORKFLOW_TYPE,
  TASK_QUEUE,
  type InventoryInput,
} from '../contract';

/**
 * The schedule `pin-inventory`: runs the inventory in its recording mode so every worker that runs it exports the
 * expiry of every client and the fleet's counts. Idempotent: created when missing, brought to the given interval
 * when it exists. `pinrotate inventory schedule` and `pinrotate dev` call it.
 */

export interface InventoryScheduleOptions {
  /** Interval, e.g. `15m` (at least 1m). */
  every?: string;
  taskQueue?: string;
  paused?: boolean;
  /** Retry tuning of the runs' activities (tests keep it tiny). */
  retry?: InventoryInput['retry'];
}

export interface InventoryScheduleView {
  scheduleId: string;
  every: string;
  validForSeconds: number;
  paused: boolean;
  created: boolean;
  nextRunAt: string | null;
}

/** The inventory's values stand for about two intervals: one missed run does not blank the fleet's alerts. */
export function inventoryValidForSeconds(everyMs: number): number {
  return Math.ceil((2 * everyMs) / 1000);
}

export async function ensureInventorySchedule(client: Client, opts: InventoryScheduleOptions = {}): Promise<InventoryScheduleView> {
  const every = opts.every ?? DEFAULT_INVENTORY_EVERY;
  const everyMs = parseDuration(every);
  if (everyMs < 60_000) throw new Error(`the inventory interval must be at least 1m (got ${every})`);
  const validForSeconds = inventoryValidForSeconds(everyMs);
  const input: InventoryInput = { record: { validForSeconds }, ...(opts.retry ? { retry: opts.retry } : {}) };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: INVENTORY_WORKFLOW_TYPE,
    workflowId: INVENTORY_SCHEDULED_WORKFLOW_ID,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    args: [input],
    staticSummary: 'Fleet inventory: expiry of every client, rotations awaiting approval, draining, failed',
    // A run that hangs must not hold the schedule: the next one is due within `every` anyway.
    workflowRunTimeout: Math.max(everyMs, 5 * 60_000),
  };
  const spec = { intervals: [{ every: everyMs }] };
  const handle = client.schedule.getHandle(INVENTORY_SCHEDULE_ID);
  let created = false;
  try {
    await client.schedule.create({
      scheduleId: INVENTORY_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { paused: Boolean(opts.paused), ...(opts.paused ? { note: 'created paused' } : {}), triggerImmediately: !opts.paused },
      memo: { every },
    });
    created = true;
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await handle.update((prev) => ({ ...prev, spec, action, policies: { ...prev.policies, overlap: ScheduleOverlapPolicy.SKIP } }));
    if (opts.paused !== undefined) {
      if (opts.paused) await handle.pause('paused with pinrotate inventory schedule --paused');
      else await handle.unpause('unpaused with pinrotate inventory schedule');
    }
  }
  const d = await handle.describe();
  return { scheduleId: INVENTORY_SCHEDULE_ID, every, validForSeconds, paused: d.state.paused, created, nextRunAt: d.info.nextActionTimes[0]?.toISOString() ?? null };
}

export async function deleteInventorySchedule(client: Client): Promise<boolean> {
  try {
    await client.schedule.getHandle(INVENTORY_SCHEDULE_ID).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

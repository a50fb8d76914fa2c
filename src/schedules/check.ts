import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { SCHEDULE_CHECK_WORKFLOW_TYPE, scheduleCheckWorkflowId, TASK_QUEUE, type ScheduleCheckInput, type ScheduleCheckResult } from '../contract';

/**
 * Runs the pre-flight of a schedule on a worker (the CLI has no platform credentials and cannot read the worker's
 * files): the workflow `checkRotationSchedule` fetches the client and asks the source for a certificate. Nothing
 * is created or changed by the check.
 */

export interface ScheduleCheckOptions extends ScheduleCheckInput {
  taskQueue?: string;
  /** How long to wait for a worker's answer (default 60 s). */
  timeoutMs?: number;
}

export type ScheduleCheckAnswer = ScheduleCheckResult | { ok: false; code: 'CHECK_TIMED_OUT'; message: string };

export async function checkRotationScheduleOnWorker(client: Client, opts: ScheduleCheckOptions): Promise<ScheduleCheckAnswer> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  const input: ScheduleCheckInput = { clientId: opts.clientId, certSource: opts.certSource, ...(opts.retry ? { retry: opts.retry } : {}) };
  const handle = await client.workflow.start(SCHEDULE_CHECK_WORKFLOW_TYPE, {
    workflowId: scheduleCheckWorkflowId(opts.clientId),
    taskQueue,
    args: [input],
    // Two `create`s of one client at once share one check; a finished check never blocks the next.
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    // Nobody waits longer than this: an abandoned check ends on its own.
    workflowExecutionTimeout: timeoutMs + 30_000,
    staticSummary: `Schedule check of ${opts.clientId}: client exists, source answers`,
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  try {
    const answer = await Promise.race([handle.result() as Promise<ScheduleCheckResult>, timeout]);
    if (answer !== 'timeout') return answer;
    await handle.terminate('no worker answered the schedule check in time').catch(() => undefined);
    return { ok: false, code: 'CHECK_TIMED_OUT', message: `no worker answered the check within ${Math.round(timeoutMs / 1000)}s; is a worker polling task queue ${taskQueue}?` };
  } finally {
    clearTimeout(timer);
  }
}

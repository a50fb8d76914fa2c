import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { CancelledFailure, TerminatedFailure, TimeoutFailure, WorkflowIdConflictPolicy } from '@temporalio/common';
import type { fleetRotation } from '../workflows/fleet';
import { FLEET_ID_PREFIX, fleetProgressQuery, FLEET_WORKFLOW_TYPE, type FleetInput, type FleetProgress, type FleetSummary } from '../contract';

/** The client side of a fleet rotation: start it, follow its progress query, collect its summary. */

export class FleetAlreadyRunningError extends Error {
  constructor(readonly workflowId: string) {
    super(`a fleet rotation with id ${workflowId} is already running; pick another --fleet-id or wait for it`);
    this.name = 'FleetAlreadyRunningError';
  }
}

export async function startFleet(client: Client, input: FleetInput, opts: { taskQueue: string; workflowId: string }): Promise<WorkflowHandleWithFirstExecutionRunId<typeof fleetRotation>> {
  // A fleet's children find it by this prefix (they free their concurrency slot once live): no other ids.
  if (!opts.workflowId.startsWith(FLEET_ID_PREFIX)) throw new Error(`a fleet's workflow id must start with ${FLEET_ID_PREFIX} (got ${opts.workflowId}); build it with fleetWorkflowId()`);
  const scope = input.all ? `all clients${input.idPrefix ? ` with prefix ${input.idPrefix}` : ''}` : `${input.clients?.length ?? 0} clients`;
  try {
    return await client.workflow.start<typeof fleetRotation>(FLEET_WORKFLOW_TYPE, {
      taskQueue: opts.taskQueue,
      workflowId: opts.workflowId,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      staticSummary: `Fleet pin rotation of ${scope}, concurrency ${input.concurrency}`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new FleetAlreadyRunningError(opts.workflowId);
    throw err;
  }
}

/** The latest run's progress: a handle without a run id follows continue-as-new. */
export async function queryProgress(handle: WorkflowHandle): Promise<FleetProgress> {
  return handle.query(fleetProgressQuery);
}

export type FleetEnd = 'completed' | 'cancelled' | 'terminated' | 'timed_out' | 'failed';

export interface FleetWaitResult {
  end: FleetEnd;
  /** From the workflow's result, or (when it did not complete) from its last progress. */
  summary?: FleetSummary;
  error?: string;
}

function endOf(err: WorkflowFailedError): FleetEnd {
  if (err.cause instanceof CancelledFailure) return 'cancelled';
  if (err.cause instanceof TerminatedFailure) return 'terminated';
  if (err.cause instanceof TimeoutFailure) return 'timed_out';
  return 'failed';
}

/** Polls the progress query until the fleet ends (through every continue-as-new), reporting each answer. */
export async function waitForFleet(handle: WorkflowHandle<typeof fleetRotation>, opts: { pollMs?: number; onProgress?: (p: FleetProgress) => void } = {}): Promise<FleetWaitResult> {
  let settled = false;
  let last: FleetProgress | undefined;
  const final: Promise<FleetWaitResult> = handle.result().then(
    (summary) => ({ end: 'completed' as const, summary }),
    async (err: unknown) => {
      if (!(err instanceof WorkflowFailedError)) throw err;
      const end = endOf(err);
      try {
        last = await queryProgress(handle);
      } catch {
        // A terminated or never-started run may not answer; keep what the last poll saw.
      }
      const summary = last ? { ...last, state: end === 'cancelled' ? ('cancelled' as const) : last.state, endedAt: new Date().toISOString() } : undefined;
      return { end, summary, error: err.cause?.message ?? err.message };
    },
  );
  final
    .finally(() => {
      settled = true;
    })
    .catch(() => undefined);
  const poll = async (): Promise<void> => {
    while (!settled) {
      try {
        last = await queryProgress(handle);
        if (!settled) opts.onProgress?.(last);
      } catch {
        // Between runs (continue-as-new) or before the first task: ask again shortly.
      }
      await Promise.race([new Promise((r) => setTimeout(r, opts.pollMs ?? 500)), final.catch(() => undefined)]);
    }
  };
  await Promise.all([final, poll()]);
  return final;
}

import type { Client, WorkflowHandle } from '@temporalio/client';

/** A pending workflow task on this attempt has failed before: with the same payloads and code it fails again. */
export const STUCK_AFTER_ATTEMPTS = 2;

export interface StuckInfo {
  /** Attempts of the pending workflow task (1 = first try, no failure yet). */
  attempts: number;
  /** The last WorkflowTaskFailed event's cause and message, e.g. an undecodable payload. */
  lastFailure: string | null;
}

/**
 * A running rotation whose workflow task keeps failing (an undecodable payload, a payload under another codec key):
 * the pending task's attempt count from describe, the last failure from the end of its history. Undefined when the
 * run is progressing. Text is cut to one bounded line (it may come from whoever started the run).
 */
export async function stuckInfo(client: Client, handle: WorkflowHandle, raw: { pendingWorkflowTask?: { attempt?: number | null } | null }): Promise<StuckInfo | undefined> {
  const attempts = raw.pendingWorkflowTask?.attempt ?? 0;
  if (attempts < STUCK_AFTER_ATTEMPTS) return undefined;
  let lastFailure: string | null = null;
  try {
    const page = await client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: client.options.namespace,
      execution: { workflowId: handle.workflowId },
      maximumPageSize: 20,
    });
    for (const event of page.history?.events ?? []) {
      const failed = event.workflowTaskFailedEventAttributes;
      if (failed) {
        lastFailure = `${String(failed.cause ?? 'failed')}: ${failed.failure?.message ?? ''}`;
        break;
      }
    }
  } catch {
    lastFailure = null;
  }
  // eslint-disable-next-line no-control-regex
  return { attempts, lastFailure: lastFailure === null ? null : lastFailure.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, 300) };
}

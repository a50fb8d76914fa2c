import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { isClientId, ROTATION_ID_PREFIX } from '../contract';

/** What `pinrotate terminate` tells the worker after it terminated a rotation that could not make progress. */
export interface TerminationNotice {
  clientId: string;
  workflowId: string;
  runId: string;
  reason: string;
  /** Who ran the command, as they state it: recorded `unverified:` (the CLI has no key of its own). */
  by: string;
  /** Attempts of the failing workflow task at the time, when it was stuck. */
  stuckAttempts?: number;
}

const { writeAudit } = proxyActivities<Activities>({ startToCloseTimeout: '20s', retry: { initialInterval: '1s', maximumInterval: '30s' } });

function line(text: unknown, max: number): string {
  // eslint-disable-next-line no-control-regex
  return typeof text === 'string' ? text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, max) : '';
}

/**
 * The audit line of a terminated rotation (the CLI has no audit file; the worker does): one record, status
 * `terminated`, keyed by the terminated run, so a retry of the command does not write it twice.
 */
export async function rotationTerminated(notice: TerminationNotice): Promise<{ recorded: boolean }> {
  const clientId = isClientId(notice?.clientId) ? notice.clientId : '';
  const workflowId = line(notice?.workflowId, 200);
  if (!clientId || !workflowId.startsWith(ROTATION_ID_PREFIX)) return { recorded: false };
  await writeAudit({
    timestamp: new Date().toISOString(),
    clientId,
    serviceId: clientId,
    workflowId,
    runId: line(notice.runId, 64),
    pins: [],
    requester: `unverified:${line(notice.by, 64) || 'unknown'}`,
    approver: null,
    latencyMs: 0,
    pinMatchRate: null,
    status: 'terminated',
    errorCode: 'TERMINATED',
    error: `terminated by an operator: ${line(notice.reason, 200)}${notice.stuckAttempts ? ` (workflow task failing, attempt ${Math.floor(Number(notice.stuckAttempts)) || 0})` : ''}`,
  });
  return { recorded: true };
}

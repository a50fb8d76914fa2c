import { proxyActivities, proxyLocalActivities, workflowInfo, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { platformTaskQueue } from '../../contract';
import type { RetryTuning } from './input';

/**
 * The rotation's activities, by the retry class each call needs (DESIGN.md §4).
 *
 * With `lean` (runs started after LEAN_PATCH), the PKI webhook and the audit record run as local activities: inside
 * the workflow task that asks for them, with the same timeouts and retries, so each saves an activity task and a
 * workflow task (certificate validation joins the client's read: preflight.ts). Platform calls (the client, its pins,
 * the gateway's telemetry) stay activity tasks on `<queue>-platform`, where the server's queue rate limit keeps every
 * worker together under the platform's per-token limit; so do probe handshakes.
 */
export function activityProxies(tuning: RetryTuning, lean = false) {
  const retry = {
    initialInterval: tuning.initialIntervalMs,
    maximumInterval: tuning.maximumIntervalMs,
    backoffCoefficient: 2,
  };
  const platform: ActivityOptions = {
    taskQueue: platformTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '30s',
    retry: { ...retry, maximumAttempts: tuning.maximumAttempts },
  };
  const worker = (options: LocalActivityOptions) => (lean ? proxyLocalActivities<Activities>(options) : proxyActivities<Activities>(options));
  return {
    platform: proxyActivities<Activities>(platform),
    // No attempt limit: compensation keeps trying through an outage; a half-rotated client is worse than a slow restore.
    compensation: proxyActivities<Activities>({ ...platform, retry }),
    // Telemetry readings inform a decision that is re-taken later: a few attempts, then the rotation waits and re-reads.
    telemetry: proxyActivities<Activities>({ ...platform, retry: { ...retry, maximumAttempts: Math.min(3, tuning.maximumAttempts) } }),
    local: proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: 3 } }),
    pki: worker({ startToCloseTimeout: '20s', retry: { ...retry, maximumAttempts: tuning.maximumAttempts } }),
    audit: worker({ startToCloseTimeout: '20s', retry }),
  };
}

export type RotationActivities = ReturnType<typeof activityProxies>;

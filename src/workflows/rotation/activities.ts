import { proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { platformTaskQueue } from '../../contract';
import type { RetryTuning } from './input';

/** The rotation's activities, by the retry class each call needs (DESIGN.md §4). */
export function activityProxies(tuning: RetryTuning) {
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
  return {
    platform: proxyActivities<Activities>(platform),
    // No attempt limit: compensation keeps trying through an outage; a half-rotated client is worse than a slow restore.
    compensation: proxyActivities<Activities>({ ...platform, retry }),
    // Telemetry readings inform a decision that is re-taken later: a few attempts, then the rotation waits and re-reads.
    telemetry: proxyActivities<Activities>({ ...platform, retry: { ...retry, maximumAttempts: Math.min(3, tuning.maximumAttempts) } }),
    local: proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: 3 } }),
    pki: proxyActivities<Activities>({ startToCloseTimeout: '20s', retry: { ...retry, maximumAttempts: tuning.maximumAttempts } }),
    audit: proxyActivities<Activities>({ startToCloseTimeout: '20s', retry }),
  };
}

export type RotationActivities = ReturnType<typeof activityProxies>;

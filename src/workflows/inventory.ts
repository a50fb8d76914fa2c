import { ActivityFailure, ApplicationFailure, isCancellation, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { InventoryActivities } from '../activities/inventory';
import {
  DEFAULT_INVENTORY_PAGE_SIZE,
  inventoryClientsQuery,
  inventoryProgressQuery,
  MAX_INVENTORY_PAGE_SIZE,
  MAX_INVENTORY_QUERY_LIMIT,
  platformTaskQueue,
  type InventoryClientEntry,
  type InventoryInput,
  type InventoryProgress,
  type InventoryResult,
} from '../contract';
import { parseDuration } from '../pins/duration';

/**
 * The fleet inventory. Listing (the CLI's `pinrotate inventory`): one activity per page of clients on the
 * rate-capped platform queue, the clients (pins, no chains) kept here and handed out by the `clients` query.
 * Recording (the `pin-inventory` schedule): one activity pages through everything on a worker, records the
 * fleet's metrics there and returns a summary, so history stays a few events whatever the fleet's size.
 */

function retryOf(input: InventoryInput) {
  const r = input.retry ?? {};
  return {
    initialInterval: r.initialInterval ? parseDuration(r.initialInterval) : 1000,
    maximumInterval: r.maximumInterval ? parseDuration(r.maximumInterval) : 60_000,
    backoffCoefficient: 2,
    maximumAttempts: r.maximumAttempts ?? 10,
  };
}

function failureText(err: unknown): { code: string; message: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { code: cause.type ?? 'ApplicationFailure', message: cause.message };
  return { code: 'ActivityFailed', message: err instanceof Error ? err.message : String(err) };
}

export async function pinInventory(input: InventoryInput = {}): Promise<InventoryResult> {
  const pageSize = input.pageSize ?? DEFAULT_INVENTORY_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_INVENTORY_PAGE_SIZE) {
    throw ApplicationFailure.nonRetryable(`pageSize must be an integer 1..${MAX_INVENTORY_PAGE_SIZE}`, 'InvalidInventoryInput');
  }
  const retry = retryOf(input);
  const platform = proxyActivities<InventoryActivities>({
    taskQueue: platformTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '1m',
    retry,
  });
  const clients: InventoryClientEntry[] = [];
  const progress: InventoryProgress = { state: input.record ? 'recording' : 'listing', pagesRead: 0, pageCount: null, scanned: 0, listed: 0, total: null };
  setHandler(inventoryProgressQuery, () => progress);
  setHandler(inventoryClientsQuery, ({ offset, limit }) => {
    const from = Math.max(0, Math.floor(Number(offset) || 0));
    const size = Math.min(MAX_INVENTORY_QUERY_LIMIT, Math.max(1, Math.floor(Number(limit) || MAX_INVENTORY_QUERY_LIMIT)));
    return { clients: clients.slice(from, from + size), offset: from, total: clients.length };
  });
  const show = (): void =>
    setCurrentDetails(
      progress.state === 'recording'
        ? '**Fleet inventory**: reading every client, its rotation and its schedule; recording the fleet metrics on the worker'
        : `**Fleet inventory**: ${progress.state}, page ${progress.pagesRead} of ${progress.pageCount ?? '?'}, ${progress.listed} clients listed of ${progress.scanned} read`,
    );
  show();

  if (input.record) {
    // Long: every page is read inside this one activity, which heartbeats page by page.
    const recorder = proxyActivities<InventoryActivities>({
      taskQueue: platformTaskQueue(workflowInfo().taskQueue),
      startToCloseTimeout: '30m',
      heartbeatTimeout: '2m',
      retry: { ...retry, maximumAttempts: Math.min(retry.maximumAttempts, 3) },
    });
    try {
      const recorded = await recorder.refreshInventory({ pageSize, validForSeconds: input.record.validForSeconds });
      Object.assign(progress, { state: 'done', pagesRead: recorded.pages, pageCount: recorded.pages, scanned: recorded.clients, listed: recorded.clients, total: recorded.clients });
      show();
      return { takenAt: recorded.takenAt, complete: true, progress, recorded };
    } catch (err) {
      if (isCancellation(err)) throw err;
      progress.state = 'failed';
      progress.error = failureText(err);
      show();
      throw err;
    }
  }

  const expiringBefore = input.expiringBefore;
  for (let pageNumber = 1; progress.pageCount === null || pageNumber <= progress.pageCount; pageNumber += 1) {
    try {
      const page = await platform.inventoryPage({ pageNumber, pageSize, ...(expiringBefore ? { expiringBefore } : {}) });
      clients.push(...page.clients);
      Object.assign(progress, { pagesRead: pageNumber, pageCount: page.pageCount, scanned: progress.scanned + page.scanned, listed: clients.length, total: page.total });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Said in the result, with what was read: the CLI reports it and exits non-zero.
      progress.state = 'failed';
      progress.error = failureText(err);
      show();
      return { takenAt: new Date().toISOString(), complete: false, progress };
    }
    show();
  }
  progress.state = 'done';
  show();
  return { takenAt: new Date().toISOString(), complete: true, progress };
}

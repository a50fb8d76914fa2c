import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, PlatformError, toFailure } from '../genesys/errors';
import type { OAuthClientState, PlatformPort } from '../genesys/types';
import type { InventoryClient, RotationMetrics } from '../metrics/registry';
import type { Pin } from '../pins/types';
import type { FleetView, RotationRun } from '../schedules/visibility';
import type { InventoryClientEntry, InventoryPage, InventoryPageInput, InventoryPin, InventoryRecordSummary } from '../contract';
import { MAX_INVENTORY_PAGE_SIZE } from '../contract';

/**
 * The fleet inventory's activities. `inventoryPage` reads one page of clients for a listing (chains dropped, so
 * history holds pins only); `refreshInventory` reads every page in one activity, joins Temporal's view of the
 * fleet and records the snapshot in the worker's metrics, returning a summary only. Both go through the platform
 * adapter, which paces requests by the `inin-ratelimit-*` headers; a 429 is waited out for at least its
 * Retry-After.
 */

export interface InventoryDeps {
  platform: PlatformPort;
  metrics?: RotationMetrics;
  /** Temporal's view of rotations and schedules (the worker passes one over its own client). */
  fleet?: FleetView;
  clock?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** 429s one refresh waits out before it gives up (the activity's own retry then takes over). */
  maxRateLimitWaits?: number;
}

/** Text from the platform is bounded before it reaches history, a metric label or a terminal. */
const MAX_TEXT = 256;
function bounded(value: unknown): string {
  const text = typeof value === 'string' ? value : '';
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT - 1)}…` : clean;
}

/** A wait for Retry-After is slept in slices of this, each after a heartbeat (the heartbeat timeout is 2 min). */
const HEARTBEAT_SLICE_MS = 30_000;

const ROLES = new Set(['primary', 'fallback', 'backup']);

export function inventoryPinOf(pin: Pin): InventoryPin | undefined {
  if (!pin || !ROLES.has(pin.role)) return undefined;
  return { role: pin.role, subject: bounded(pin.subject), notAfter: bounded(pin.notAfter), serialNumber: bounded(pin.serialNumber), sha256Spki: bounded(pin.sha256Spki) };
}

export function inventoryEntryOf(client: OAuthClientState): InventoryClientEntry {
  return {
    id: bounded(client.id),
    name: bounded(client.name),
    state: bounded(client.state),
    mtlsRequired: client.mtlsRequired === true,
    pins: (Array.isArray(client.pins) ? client.pins : []).map(inventoryPinOf).filter((p): p is InventoryPin => p !== undefined),
  };
}

/** The expiry that matters for a client: its primary pin's; clients without one have none. */
export function primaryNotAfterMs(entry: Pick<InventoryClientEntry, 'pins'>): number | undefined {
  const primary = entry.pins.find((p) => p.role === 'primary');
  const ms = primary ? Date.parse(primary.notAfter) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not inside an activity (unit tests call the functions directly).
  }
}

function checkPaging(pageNumber: number, pageSize: number): void {
  if (!Number.isInteger(pageNumber) || pageNumber < 1) throw ApplicationFailure.create({ message: `pageNumber must be a positive integer (got ${pageNumber})`, type: 'InvalidInventoryInput', nonRetryable: true });
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_INVENTORY_PAGE_SIZE) {
    throw ApplicationFailure.create({ message: `pageSize must be 1..${MAX_INVENTORY_PAGE_SIZE} (got ${pageSize})`, type: 'InvalidInventoryInput', nonRetryable: true });
  }
}

export function createInventoryActivities(deps: InventoryDeps) {
  const clock = deps.clock ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxWaits = deps.maxRateLimitWaits ?? 20;

  function lister(): NonNullable<PlatformPort['listClients']> {
    const list = deps.platform.listClients?.bind(deps.platform);
    if (!list) throw ApplicationFailure.create({ message: 'this platform adapter cannot list clients', type: 'NotSupported', nonRetryable: true });
    return list;
  }

  /** Reads every page; a 429 is waited out (never shorter than Retry-After) and the same page asked again. */
  async function everyClient(pageSize: number, onPage: (p: { pageNumber: number; pageCount: number }) => void): Promise<{ clients: OAuthClientState[]; pages: number; waits: number }> {
    const list = lister();
    const clients: OAuthClientState[] = [];
    let waits = 0;
    let pageCount = 1;
    let pageNumber = 1;
    while (pageNumber <= pageCount) {
      let page;
      try {
        page = await list(pageNumber, pageSize);
      } catch (err) {
        if (err instanceof PlatformError && err.type === FailureType.RateLimited && waits < maxWaits) {
          waits += 1;
          // Never sooner than Retry-After; heartbeating through long waits so the activity is not timed out.
          for (let left = err.retryAfterMs ?? 1000; left > 0; left -= HEARTBEAT_SLICE_MS) {
            heartbeat({ pageNumber, waitingMs: left });
            await sleep(Math.min(left, HEARTBEAT_SLICE_MS));
          }
          continue;
        }
        throw err;
      }
      clients.push(...page.entities);
      pageCount = Math.max(1, page.pageCount);
      onPage({ pageNumber, pageCount });
      heartbeat({ pageNumber, pageCount });
      pageNumber += 1;
    }
    return { clients, pages: pageCount, waits };
  }

  return {
    /** One page of clients with their pins (no chains): what a listing keeps in history. */
    async inventoryPage(input: InventoryPageInput): Promise<InventoryPage> {
      checkPaging(input.pageNumber, input.pageSize);
      const before = input.expiringBefore !== undefined ? Date.parse(input.expiringBefore) : undefined;
      if (before !== undefined && !Number.isFinite(before)) throw ApplicationFailure.create({ message: 'expiringBefore must be an ISO 8601 time', type: 'InvalidInventoryInput', nonRetryable: true });
      let page;
      try {
        page = await lister()(input.pageNumber, input.pageSize);
      } catch (err) {
        throw toFailure(err);
      }
      const entries = page.entities.map(inventoryEntryOf);
      const clients = before === undefined ? entries : entries.filter((e) => (primaryNotAfterMs(e) ?? Number.POSITIVE_INFINITY) < before);
      return { clients, scanned: entries.length, pageNumber: page.pageNumber, pageCount: Math.max(1, page.pageCount), total: page.total };
    },

    /**
     * Every client, its running rotation and its schedule, and the fleet's counts, recorded at once in the worker's
     * metrics (`recordInventory`). A run that does not complete counts as a failure and leaves the last values.
     */
    async refreshInventory(input: { pageSize: number; validForSeconds: number }): Promise<InventoryRecordSummary> {
      checkPaging(1, input.pageSize);
      if (!(input.validForSeconds > 0)) throw ApplicationFailure.create({ message: 'validForSeconds must be positive', type: 'InvalidInventoryInput', nonRetryable: true });
      if (!deps.metrics) throw ApplicationFailure.create({ message: 'this worker has no metrics registry to record the inventory in', type: 'NotSupported', nonRetryable: true });
      if (!deps.fleet) throw ApplicationFailure.create({ message: 'this worker has no Temporal client to read rotations and schedules with', type: 'NotSupported', nonRetryable: true });
      const { metrics, fleet } = deps;
      try {
        const listed = await everyClient(input.pageSize, () => undefined);
        const takenAt = clock();
        const [running, schedules, failedLastDay] = await Promise.all([
          fleet.runningRotations(),
          fleet.schedules(),
          fleet.countFailedSince(new Date(takenAt.getTime() - 86_400_000)),
        ]);
        heartbeat({ joined: true });
        const runningBy = new Map<string, RotationRun>(running.map((r) => [r.clientId, r]));
        const scheduleBy = new Map(schedules.map((s) => [s.clientId, s]));
        const details = await rotationDetails(fleet, running);
        const clients: InventoryClient[] = listed.clients.map((c) => {
          const entry = inventoryEntryOf(c);
          const run = runningBy.get(entry.id);
          return {
            clientId: entry.id,
            pins: entry.pins.map((p) => ({ role: p.role, notAfter: p.notAfter })),
            rotation: run ? (details.get(run.workflowId) ?? {}) : null,
            nextScheduledRotation: scheduleBy.get(entry.id)?.nextRunAt ?? null,
          };
        });
        const awaiting = running.filter((r) => r.status === 'awaiting_approval').length;
        const draining = running.filter((r) => r.status === 'draining').length;
        metrics.recordInventory({
          takenAt,
          validForSeconds: input.validForSeconds,
          clients,
          rotationsAwaitingApproval: awaiting,
          rotationsDraining: draining,
          rotationsFailedLastDay: failedLastDay,
        });
        return {
          takenAt: takenAt.toISOString(),
          clients: clients.length,
          pages: listed.pages,
          pins: clients.reduce((n, c) => n + c.pins.length, 0),
          rotationsRunning: running.length,
          rotationsAwaitingApproval: awaiting,
          rotationsDraining: draining,
          rotationsFailedLastDay: failedLastDay,
          schedules: schedules.length,
          rateLimitedWaits: listed.waits,
          validForSeconds: input.validForSeconds,
        };
      } catch (err) {
        metrics.recordInventoryFailure();
        throw toFailure(err);
      }
    },
  };
}

type RotationDetail = NonNullable<InventoryClient['rotation']>;

/**
 * What the status query adds for running rotations: since when an approval is awaited (and until when), whether a
 * drain passed maxOverlap, the pin match rate. A few at a time; one that cannot answer keeps what visibility said.
 */
async function rotationDetails(fleet: FleetView, running: RotationRun[]): Promise<Map<string, RotationDetail>> {
  const out = new Map<string, RotationDetail>();
  const queue = [...running];
  const one = async (): Promise<void> => {
    for (let run = queue.shift(); run; run = queue.shift()) {
      const status = (await fleet.rotationStatus(run.workflowId, run.runId)) as
        | (Awaited<ReturnType<FleetView['rotationStatus']>> & { approvalDeadline?: string; approval?: { deadline?: string }; drain?: { state?: string } })
        | undefined;
      if (!status) {
        out.set(run.workflowId, {});
        continue;
      }
      const detail: RotationDetail = { pinMatchRate: status.pinMatchRate ?? null };
      if (status.phase === 'awaiting_approval') {
        if (status.timestamps.awaiting_approval) detail.awaitingApprovalSince = status.timestamps.awaiting_approval;
        const deadline = status.approvalDeadline ?? status.approval?.deadline;
        if (deadline) detail.approvalDeadline = deadline;
      }
      detail.atMaxOverlap = status.drain?.state === 'awaiting_operator';
      out.set(run.workflowId, detail);
      heartbeat();
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, running.length) }, one));
  return out;
}

export type InventoryActivities = ReturnType<typeof createInventoryActivities>;

import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowFailure,
  continueAsNew,
  isCancellation,
  patched,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  TerminatedFailure,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  CERT_SOURCE_PATTERN,
  CLIENT_ID_PATTERN,
  CLIENT_ID_RULE,
  DEFAULT_CONTINUE_AS_NEW_EVERY,
  DEFAULT_FLEET_OVERLAP,
  DEFAULT_MAX_FAILURES,
  DEFAULT_PAGE_SIZE,
  emptyCounts,
  EXPECTED_SKIPS,
  Failure,
  fleetProgressQuery,
  legacyIds,
  MAX_CONCURRENCY,
  platformTaskQueue,
  rotationWorkflowId,
  WORKFLOW_TYPE,
  WorkflowExecutionAlreadyStartedError,
  type RotationInput,
  type RotationResult,
  type FleetCarry,
  type FleetClient,
  type FleetFailure,
  type FleetInput,
  type FleetListing,
  type FleetOutcome,
  type FleetProgress,
  type FleetState,
  type FleetSummary,
  type SkipReason,
} from '../contract';
import { parseDuration } from '../pins/duration';
import type { pinRotation } from './rotation';

interface Settings {
  clients: FleetClient[];
  all: boolean;
  idPrefix: string;
  certSource: string;
  concurrency: number;
  overlap: string;
  pageSize: number;
  continueAsNewEvery: number;
  maxFailures: number;
}

function invalid(problems: string[]): ApplicationFailure {
  return ApplicationFailure.create({ message: `invalid fleet input: ${problems.join('; ')}`, type: Failure.InvalidFleetInput, nonRetryable: true });
}

function validate(raw: FleetInput): Settings {
  const input = (raw ?? {}) as FleetInput;
  const problems: string[] = [];
  const intIn = (v: unknown, name: string, min: number, max: number, fallback?: number): number => {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) problems.push(`${name} must be an integer between ${min} and ${max}`);
    return typeof v === 'number' ? v : (fallback ?? min);
  };
  const concurrency = intIn(input.concurrency, 'concurrency', 1, MAX_CONCURRENCY);
  const pageSize = intIn(input.pageSize, 'pageSize', 1, 500, DEFAULT_PAGE_SIZE);
  const continueAsNewEvery = intIn(input.continueAsNewEvery, 'continueAsNewEvery', 1, 10_000, DEFAULT_CONTINUE_AS_NEW_EVERY);
  const maxFailures = intIn(input.maxFailures, 'maxFailures', 0, 10_000, DEFAULT_MAX_FAILURES);
  const all = input.all === true;
  if (input.clients !== undefined && !Array.isArray(input.clients)) problems.push('clients must be an array of {clientId, certSource?}');
  const clients = Array.isArray(input.clients) ? input.clients : [];
  // On a fresh start `clients` and `all` exclude each other; a continued `all` run carries its listed-but-unstarted clients.
  if (all && clients.length > 0 && !input.carry) problems.push('give either clients or all, not both');
  if (!all && input.clients === undefined) problems.push('give clients (a list) or all: true');
  const bad = clients.filter((c) => typeof c?.clientId !== 'string' || !CLIENT_ID_PATTERN.test(c.clientId));
  if (bad.length > 0) problems.push(`${bad.length} client id(s) are not ${CLIENT_ID_RULE}, e.g. ${JSON.stringify(bad[0]?.clientId ?? bad[0]).slice(0, 80)}`);
  const sources = [input.certSource, ...clients.map((c) => c?.certSource)].filter((s) => s !== undefined);
  if (sources.some((s) => typeof s !== 'string' || !CERT_SOURCE_PATTERN.test(s))) problems.push('certSource must be file:PATH, https://URL or emulator-ca');
  // No default source: where certificates come from is the operator's decision, never a demo CA by accident.
  if (input.certSource === undefined && (all || clients.some((c) => c?.certSource === undefined))) problems.push('certSource is required (for the fleet, or for every listed client)');
  const overlap = input.overlap ?? DEFAULT_FLEET_OVERLAP;
  try {
    parseDuration(overlap);
  } catch {
    problems.push(`overlap must be a duration like "7d" or "0s" (got ${JSON.stringify(input.overlap)})`);
  }
  try {
    activityRetry(input.retry);
  } catch {
    problems.push('retry.initialInterval and retry.maximumInterval must be durations like "1s"');
  }
  const attempts = input.retry?.maximumAttempts;
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 1)) problems.push('retry.maximumAttempts must be a positive integer');
  if (input.idPrefix !== undefined && typeof input.idPrefix !== 'string') problems.push('idPrefix must be a string');
  if (problems.length > 0) throw invalid(problems);
  return {
    clients,
    all,
    idPrefix: input.idPrefix ?? '',
    certSource: input.certSource ?? '',
    concurrency,
    overlap,
    pageSize,
    continueAsNewEvery,
    maxFailures,
  };
}

/** The same retry tuning the children get (tests keep it tiny); checked by `validate`. */
function activityRetry(retry: FleetInput['retry']) {
  return {
    initialInterval: Math.max(1, parseDuration(retry?.initialInterval ?? '1s')),
    maximumInterval: Math.max(1, parseDuration(retry?.maximumInterval ?? '60s')),
    backoffCoefficient: 2,
    maximumAttempts: retry?.maximumAttempts ?? 12,
  };
}

/** Code and message of whatever ended a client's attempt, matched by failure class and type, never by message. */
function describeFailure(err: unknown): { code: string; message: string } {
  const cause = err instanceof ChildWorkflowFailure || err instanceof ActivityFailure ? err.cause : err;
  // A cancelled rotation ran its saga (restored the client if it had applied); a terminated one did not.
  if (cause instanceof CancelledFailure) return { code: 'CANCELLED', message: `the rotation was cancelled (${cause.message || 'no reason given'}); its saga restores the client if it had applied` };
  if (cause instanceof TerminatedFailure) return { code: 'TERMINATED', message: `the rotation was terminated (${cause.message || 'no reason given'}); check the client's pins by hand` };
  if (cause instanceof TimeoutFailure) return { code: 'TIMED_OUT', message: cause.message || 'timed out' };
  if (cause instanceof ApplicationFailure) {
    const detail = (cause.details?.[0] ?? {}) as { code?: unknown };
    const code = cause.type === Failure.CertificateInvalid && typeof detail.code === 'string' ? detail.code : (cause.type ?? 'FAILED');
    return { code, message: cause.message };
  }
  return { code: 'FAILED', message: cause instanceof Error ? cause.message : String(cause) };
}

/**
 * Rotates many clients: one `pinRotation` child per client (id `pin-rotation-{clientId}`, so it never runs beside
 * a rotation started elsewhere), at most `concurrency` in flight. `all` pages through the platform's clients and
 * skips those that are not active or not mTLS-required. After `continueAsNewEvery` children (or when the server
 * suggests it) the run stops launching, lets its children finish and continues as new with the remaining clients
 * and the counts so far, so history stays bounded for any fleet size.
 */
export async function fleetRotation(rawInput: FleetInput): Promise<FleetSummary> {
  const info = workflowInfo();
  const carry: FleetCarry | undefined = rawInput?.carry;
  const startedAt = carry?.startedAt ?? new Date().toISOString();
  const byStatus = { ...emptyCounts(), ...carry?.byStatus };
  const skippedBy: Record<string, number> = { ...carry?.skippedBy };
  const failures: FleetFailure[] = [...(carry?.failures ?? [])];
  let failuresOmitted = carry?.failuresOmitted ?? 0;
  let maxRunning = carry?.maxRunning ?? 0;
  let discovered = carry?.discovered ?? 0;
  const runs = (carry?.runs ?? 0) + 1;
  let state: FleetState = 'running';
  let queue: FleetClient[] = [];
  let head = 0;
  const inFlight = new Set<string>();
  let listing: FleetListing | undefined = carry?.listing;
  let concurrency = typeof rawInput?.concurrency === 'number' ? rawInput.concurrency : 0;
  let maxFailures = DEFAULT_MAX_FAILURES;

  const done = (): number => Object.values(byStatus).reduce((a, b) => a + b, 0);
  const progress = (): FleetProgress => ({
    fleetId: info.workflowId,
    runId: info.runId,
    state,
    total: discovered,
    totalFinal: !listing || listing.complete || listing.error !== undefined,
    done: done(),
    running: inFlight.size,
    queued: queue.length - head,
    inFlight: [...inFlight],
    byStatus: { ...byStatus },
    skippedBy: { ...skippedBy },
    failures: [...failures],
    failuresOmitted,
    maxRunning,
    concurrency,
    startedAt,
    updatedAt: new Date().toISOString(),
    runs,
    ...(listing ? { listing: { ...listing } } : {}),
  });
  setHandler(fleetProgressQuery, progress);

  const showDetails = (): void => {
    const p = progress();
    const counts = Object.entries(p.byStatus)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ');
    setCurrentDetails(
      [
        `**Fleet rotation**: ${p.done}/${p.total}${p.totalFinal ? '' : '+'} done, ${p.running} running (concurrency ${p.concurrency}), run ${p.runs}, state \`${p.state}\``,
        counts ? `outcomes: ${counts}` : '',
        p.inFlight.length ? `in flight: ${p.inFlight.map((c) => `\`${c}\``).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  };

  const record = (clientId: string, status: FleetOutcome, error?: { code: string; message: string }): void => {
    byStatus[status] += 1;
    if (status === 'skipped' && error) skippedBy[error.code] = (skippedBy[error.code] ?? 0) + 1;
    if (status !== 'finalized' && status !== 'rotated' && status !== 'dry_run') {
      const entry = { clientId, status, code: error?.code ?? status.toUpperCase(), message: (error?.message ?? '').slice(0, 500) };
      const expected = (f: FleetFailure): boolean => f.status === 'skipped' && EXPECTED_SKIPS.includes(f.code);
      // A full list makes room for a real failure by dropping an expected skip (an inactive client), never the reverse.
      const evict = failures.length >= maxFailures && !expected(entry) ? failures.findIndex(expected) : -1;
      if (evict >= 0) failures.splice(evict, 1);
      if (failures.length < maxFailures) failures.push(entry);
      if (evict >= 0 || failures[failures.length - 1] !== entry) failuresOmitted += 1;
    }
    showDetails();
  };

  const settings = validate(rawInput);
  concurrency = settings.concurrency;
  maxFailures = settings.maxFailures;
  queue = settings.clients;
  if (!carry) discovered = queue.length;
  if (settings.all && !listing) listing = { nextPage: 1, pageCount: null, platformTotal: null, scanned: 0, complete: false };

  // Runs recorded before the ids lost their "/" start children under the old id when they replay.
  const childId = patched('hyphen-ids-v1') ? rotationWorkflowId : legacyIds.rotation;
  const retry = activityRetry(rawInput.retry);
  const acts = proxyActivities<Activities>({ startToCloseTimeout: '60s', retry });
  // Listing is a platform call: it shares the rate-capped platform queue with the rotations' reads and writes.
  const platform = proxyActivities<Activities>({ taskQueue: platformTaskQueue(info.taskQueue), startToCloseTimeout: '60s', retry });

  const skip = (clientId: string, code: SkipReason, message: string): void => {
    discovered += 1;
    record(clientId, 'skipped', { code, message });
  };

  /** Reads the next page of clients; queues the rotatable ones, records the others as skipped. */
  const readPage = async (): Promise<void> => {
    if (!listing || listing.complete) return;
    let page: Awaited<ReturnType<Activities['listClients']>>;
    try {
      page = await platform.listClients({ pageNumber: listing.nextPage, pageSize: settings.pageSize });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Without the rest of the listing the fleet cannot be complete: finish what is queued, report it.
      listing.error = describeFailure(err);
      listing.complete = true;
      return;
    }
    listing.scanned += page.clients.length;
    listing.pageCount = page.pageCount;
    listing.platformTotal = page.total;
    listing.complete = page.clients.length === 0 || page.pageNumber >= page.pageCount;
    listing.nextPage += 1;
    for (const c of page.clients) {
      if (!c.id.startsWith(settings.idPrefix)) continue;
      if (!CLIENT_ID_PATTERN.test(c.id)) skip(c.id, 'INVALID_CLIENT_ID', 'the platform listed a client id this fleet cannot address');
      else if (c.state !== 'active') skip(c.id, 'CLIENT_NOT_ACTIVE', `client is ${c.state}, not active`);
      else if (!c.mtlsRequired) skip(c.id, 'MTLS_NOT_REQUIRED', 'client does not require mTLS');
      else {
        queue.push({ clientId: c.id });
        discovered += 1;
      }
    }
    showDetails();
  };

  let listingInProgress: Promise<void> | undefined;
  const nextClient = async (): Promise<FleetClient | undefined> => {
    for (;;) {
      if (head < queue.length) return queue[head++];
      if (!listing || listing.complete) return undefined;
      // One page read at a time, whichever lane asks first; the others wait for it.
      listingInProgress ??= readPage().finally(() => {
        listingInProgress = undefined;
      });
      await listingInProgress;
    }
  };

  const rotateOne = async (client: FleetClient): Promise<void> => {
    const { clientId } = client;
    inFlight.add(clientId);
    maxRunning = Math.max(maxRunning, inFlight.size);
    showDetails();
    try {
      let certificatePem: string;
      try {
        ({ certificatePem } = await acts.obtainCertificate({ clientId, source: client.certSource ?? settings.certSource }));
      } catch (err) {
        if (isCancellation(err)) throw err;
        const failure = describeFailure(err);
        // A certificate the source cannot vouch for changes nothing: refused, like the rotation's own check.
        const status = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === Failure.CertificateInvalid ? 'refused' : 'failed';
        record(clientId, status, { code: failure.code, message: `certificate source: ${failure.message}` });
        return;
      }
      const serviceId = client.serviceId ?? rawInput.serviceId;
      const childInput: RotationInput = {
        clientId,
        certificatePem,
        overlap: settings.overlap,
        ...(serviceId ? { serviceId } : {}),
        ...(rawInput.dryRun ? { dryRun: true } : {}),
        ...(rawInput.retry ? { retry: rawInput.retry } : {}),
      };
      let child;
      try {
        child = await startChild<typeof pinRotation>(WORKFLOW_TYPE, {
          workflowId: childId(clientId),
          args: [childInput],
          // A closing fleet (terminated, timed out) asks its children to cancel, so each saga restores its client.
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          staticSummary: `Pin rotation of ${clientId} (fleet ${info.workflowId})`,
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          record(clientId, 'skipped', { code: 'ALREADY_RUNNING', message: `a rotation of ${clientId} is already running (${childId(clientId)})` });
          return;
        }
        if (isCancellation(err)) throw err;
        record(clientId, 'failed', describeFailure(err));
        return;
      }
      let result: RotationResult;
      try {
        result = await child.result();
      } catch (err) {
        // Cancelled, terminated or timed out: the child's own saga decided what happened to the pins.
        record(clientId, 'failed', describeFailure(err));
        return;
      }
      record(clientId, result.status, result.error ?? undefined);
    } finally {
      inFlight.delete(clientId);
      showDetails();
    }
  };

  const root = CancellationScope.current();
  let launched = 0;
  const rollOver = (): boolean => launched >= settings.continueAsNewEvery || workflowInfo().continueAsNewSuggested;

  /** One of `concurrency` lanes: takes the next client, rotates it, repeats; so at most that many are in flight. */
  const lane = async (): Promise<void> => {
    while (!root.consideredCancelled) {
      if (rollOver()) {
        // Stop launching; the other lanes' children finish, then the run continues as new.
        if (state === 'running') state = 'draining';
        return;
      }
      // Reserved before waiting for a client, so lanes waiting on the same page read cannot overshoot the batch.
      launched += 1;
      let client: FleetClient | undefined;
      try {
        client = await nextClient();
      } catch (err) {
        launched -= 1;
        if (isCancellation(err)) return;
        throw err;
      }
      if (!client) {
        launched -= 1;
        return;
      }
      try {
        await rotateOne(client);
      } catch (err) {
        if (!isCancellation(err)) throw err;
        // Cancelled before its child started: the client was not touched, so it counts as still queued.
        queue.push(client);
        return;
      }
    }
  };

  showDetails();
  await Promise.all(Array.from({ length: settings.concurrency }, () => lane()));

  if (root.consideredCancelled) {
    state = 'cancelled';
    showDetails();
    throw new CancelledFailure('the fleet rotation was cancelled; children in flight were cancelled and compensated');
  }

  const remaining = queue.slice(head);
  if (remaining.length > 0 || (listing && !listing.complete)) {
    const next: FleetCarry = {
      startedAt,
      runs,
      discovered,
      byStatus,
      skippedBy,
      failures,
      failuresOmitted,
      maxRunning,
      ...(listing ? { listing } : {}),
    };
    return continueAsNew<typeof fleetRotation>({ ...rawInput, clients: remaining, carry: next });
  }

  state = 'done';
  showDetails();
  return { ...progress(), endedAt: new Date().toISOString() };
}

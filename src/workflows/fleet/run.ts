import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import {
  CLIENT_ID_PATTERN,
  DEFAULT_MAX_FAILURES,
  emptyCounts,
  EXPECTED_SKIPS,
  FLEET_OUTCOMES,
  Failure,
  legacyIds,
  platformTaskQueue,
  rotationResultOfFailure,
  rotationSummary,
  rotationWorkflowId,
  WORKFLOW_TYPE,
  WorkflowExecutionAlreadyStartedError,
  type ChildRotationEvent,
  type FleetCarry,
  type FleetClient,
  type FleetFailure,
  type FleetInput,
  type FleetListing,
  type FleetOutcome,
  type FleetProgress,
  type FleetState,
  type SkipReason,
  type RotationInput,
  type RotationResult,
} from '../../contract';
import type { pinRotation } from '../rotation';
import { describeFailure } from './describe-failure';
import { activityRetry, type Settings } from './settings';

/** One run of a fleet (between continue-as-new): its counts, its queue and listing, its lanes of child rotations. */
export class FleetRun {
  private readonly info = workflowInfo();
  readonly startedAt: string;
  private readonly byStatus: Record<FleetOutcome, number>;
  private readonly skippedBy: Record<string, number>;
  private readonly failures: FleetFailure[];
  private failuresOmitted: number;
  private maxRunning: number;
  private discovered: number;
  readonly runs: number;
  state: FleetState = 'running';
  private queue: FleetClient[] = [];
  private head = 0;
  private readonly inFlight = new Set<string>();
  listing: FleetListing | undefined;
  private concurrency: number;
  private maxFailures = DEFAULT_MAX_FAILURES;
  private settings!: Settings;
  private acts!: Activities;
  private platform!: Activities;
  private childId!: (clientId: string) => string;
  private listingInProgress: Promise<void> | undefined;
  private launched = 0;
  // A child frees its slot once live; the fleet follows it through drain and finalize (DESIGN.md §4 Fleet).
  /** False while replaying runs recorded before children were followed past live (they held their slot). */
  private follow = false;
  /** Live children not ended yet: clientId → when they went live. Carried over continue-as-new. */
  private readonly following = new Map<string, string>();
  /** Children of this run waiting to go live, and those that said so before anyone waited. */
  private readonly liveWaiters = new Map<string, () => void>();
  private readonly liveEarly = new Set<string>();
  private wentLive: number;
  private liveMsTotal: number;
  private lastLiveAt: string | undefined;

  constructor(private readonly input: FleetInput) {
    const carry: FleetCarry | undefined = input?.carry;
    this.startedAt = carry?.startedAt ?? new Date().toISOString();
    this.byStatus = { ...emptyCounts(), ...carry?.byStatus };
    this.skippedBy = { ...carry?.skippedBy };
    this.failures = [...(carry?.failures ?? [])];
    this.failuresOmitted = carry?.failuresOmitted ?? 0;
    this.maxRunning = carry?.maxRunning ?? 0;
    this.discovered = carry?.discovered ?? 0;
    this.runs = (carry?.runs ?? 0) + 1;
    this.listing = carry?.listing;
    this.concurrency = typeof input?.concurrency === 'number' ? input.concurrency : 0;
    for (const f of carry?.following ?? []) this.following.set(f.clientId, f.liveAt);
    this.wentLive = carry?.wentLive ?? 0;
    this.liveMsTotal = carry?.liveMsTotal ?? 0;
  }

  /** After validation: the queue, the listing and the activities this run uses. */
  configure(settings: Settings): void {
    this.settings = settings;
    this.concurrency = settings.concurrency;
    this.maxFailures = settings.maxFailures;
    this.queue = settings.clients;
    if (!this.input.carry) this.discovered = this.queue.length;
    if (settings.all && !this.listing) this.listing = { nextPage: 1, pageCount: null, platformTotal: null, scanned: 0, complete: false };
    // Runs recorded before the ids lost their "/" start children under the old id when they replay.
    this.childId = patched('hyphen-ids-v1') ? rotationWorkflowId : legacyIds.rotation;
    this.follow = patched('fleet-follow-live-v1');
    const retry = activityRetry(this.input.retry);
    this.acts = proxyActivities<Activities>({ startToCloseTimeout: '60s', retry });
    // Listing is a platform call: it shares the rate-capped platform queue with the rotations' reads and writes.
    this.platform = proxyActivities<Activities>({ taskQueue: platformTaskQueue(this.info.taskQueue), startToCloseTimeout: '60s', retry });
  }

  private done(): number {
    return Object.values(this.byStatus).reduce((a, b) => a + b, 0);
  }

  progress(): FleetProgress {
    const listing = this.listing;
    return {
      fleetId: this.info.workflowId,
      runId: this.info.runId,
      state: this.state,
      total: this.discovered,
      totalFinal: !listing || listing.complete || listing.error !== undefined,
      done: this.done(),
      running: this.inFlight.size,
      queued: this.queue.length - this.head,
      inFlight: [...this.inFlight],
      byStatus: { ...this.byStatus },
      skippedBy: { ...this.skippedBy },
      failures: [...this.failures],
      failuresOmitted: this.failuresOmitted,
      maxRunning: this.maxRunning,
      concurrency: this.concurrency,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      runs: this.runs,
      ...(listing ? { listing: { ...listing } } : {}),
      live: this.following.size,
      finalized: this.byStatus.finalized,
      wentLive: this.wentLive,
      etaLive: this.etaLive(listing),
      following: [...this.following.keys()].slice(0, 50),
    };
  }

  /**
   * When every client should be live, at the rate seen so far (children gone live per elapsed time since the
   * fleet's start); the last go-live time once none is pending; null before the first goes live.
   */
  private etaLive(listing: FleetListing | undefined): string | null {
    const pending = this.queue.length - this.head + this.inFlight.size;
    if (pending === 0 && (!listing || listing.complete)) return this.lastLiveAt ?? null;
    if (this.wentLive === 0) return null;
    const elapsed = Date.now() - Date.parse(this.startedAt);
    const perClientMs = elapsed / this.wentLive;
    return new Date(Date.now() + Math.round(pending * perClientMs)).toISOString();
  }

  showDetails(): void {
    const p = this.progress();
    const counts = Object.entries(p.byStatus)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ');
    setCurrentDetails(
      [
        `**Fleet rotation**: ${p.done}/${p.total}${p.totalFinal ? '' : '+'} done, ${p.running} going live (concurrency ${p.concurrency}), run ${p.runs}, state \`${p.state}\``,
        `live ${p.live} (draining or in overlap), finalized ${p.finalized}, went live ${p.wentLive}${p.etaLive ? `, all live by ${p.etaLive.slice(11, 19)}Z` : ''}`,
        counts ? `outcomes: ${counts}` : '',
        p.inFlight.length ? `in flight: ${p.inFlight.map((c) => `\`${c}\``).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }

  private record(clientId: string, status: FleetOutcome, error?: { code: string; message: string }): void {
    this.byStatus[status] += 1;
    if (status === 'skipped' && error) this.skippedBy[error.code] = (this.skippedBy[error.code] ?? 0) + 1;
    if (status !== 'finalized' && status !== 'rotated' && status !== 'dry_run') {
      const failures = this.failures;
      const entry = { clientId, status, code: error?.code ?? status.toUpperCase(), message: (error?.message ?? '').slice(0, 500) };
      const expected = (f: FleetFailure): boolean => f.status === 'skipped' && EXPECTED_SKIPS.includes(f.code);
      // A full list makes room for a real failure by dropping an expected skip (an inactive client), never the reverse.
      const evict = failures.length >= this.maxFailures && !expected(entry) ? failures.findIndex(expected) : -1;
      if (evict >= 0) failures.splice(evict, 1);
      if (failures.length < this.maxFailures) failures.push(entry);
      if (evict >= 0 || failures[failures.length - 1] !== entry) this.failuresOmitted += 1;
    }
    this.showDetails();
  }

  private skip(clientId: string, code: SkipReason, message: string): void {
    this.discovered += 1;
    this.record(clientId, 'skipped', { code, message });
  }

  /** Reads the next page of clients; queues the rotatable ones, records the others as skipped. */
  private async readPage(): Promise<void> {
    const listing = this.listing;
    if (!listing || listing.complete) return;
    let page: Awaited<ReturnType<Activities['listClients']>>;
    try {
      page = await this.platform.listClients({ pageNumber: listing.nextPage, pageSize: this.settings.pageSize });
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
      if (!c.id.startsWith(this.settings.idPrefix)) continue;
      if (!CLIENT_ID_PATTERN.test(c.id)) this.skip(c.id, 'INVALID_CLIENT_ID', 'the platform listed a client id this fleet cannot address');
      else if (c.state !== 'active') this.skip(c.id, 'CLIENT_NOT_ACTIVE', `client is ${c.state}, not active`);
      else if (!c.mtlsRequired) this.skip(c.id, 'MTLS_NOT_REQUIRED', 'client does not require mTLS');
      else {
        this.queue.push({ clientId: c.id });
        this.discovered += 1;
      }
    }
    this.showDetails();
  }

  private async nextClient(): Promise<FleetClient | undefined> {
    for (;;) {
      if (this.head < this.queue.length) return this.queue[this.head++];
      if (!this.listing || this.listing.complete) return undefined;
      // One page read at a time, whichever lane asks first; the others wait for it.
      this.listingInProgress ??= this.readPage().finally(() => {
        this.listingInProgress = undefined;
      });
      await this.listingInProgress;
    }
  }

  /** The new certificate from the client's source, or undefined when the outcome was recorded instead. */
  private async certificateFor(client: FleetClient): Promise<string | undefined> {
    try {
      return (await this.acts.obtainCertificate({ clientId: client.clientId, source: client.certSource ?? this.settings.certSource })).certificatePem;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const failure = describeFailure(err);
      // A certificate the source cannot vouch for changes nothing: refused, like the rotation's own check.
      const status = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === Failure.CertificateInvalid ? 'refused' : 'failed';
      this.record(client.clientId, status, { code: failure.code, message: `certificate source: ${failure.message}` });
      return undefined;
    }
  }

  private async rotateOne(client: FleetClient): Promise<void> {
    const { clientId } = client;
    this.inFlight.add(clientId);
    this.maxRunning = Math.max(this.maxRunning, this.inFlight.size);
    this.showDetails();
    try {
      const certificatePem = await this.certificateFor(client);
      if (certificatePem === undefined) return;
      const serviceId = client.serviceId ?? this.input.serviceId;
      const childInput: RotationInput = {
        clientId,
        certificatePem,
        overlap: this.settings.overlap,
        ...(this.input.finalizePolicy ? { finalizePolicy: this.input.finalizePolicy } : {}),
        ...(this.input.drainQuiet ? { drainQuiet: this.input.drainQuiet } : {}),
        ...(this.input.maxOverlap ? { maxOverlap: this.input.maxOverlap } : {}),
        ...(serviceId ? { serviceId } : {}),
        ...(this.input.dryRun ? { dryRun: true } : {}),
        ...(this.input.retry ? { retry: this.input.retry } : {}),
      };
      let child;
      try {
        child = await startChild<typeof pinRotation>(WORKFLOW_TYPE, {
          workflowId: this.childId(clientId),
          args: [childInput],
          // Followed children outlive a continue-as-new of the fleet (they are followed by id); cancelling the fleet
          // cancels them explicitly. Before that, a closing fleet asked its children to cancel.
          parentClosePolicy: this.follow ? ParentClosePolicy.ABANDON : ParentClosePolicy.REQUEST_CANCEL,
          // What the UI lists, the same text whoever starts a rotation (static metadata: not part of the commands).
          ...rotationSummary(childInput, { by: 'fleet', fleetId: this.info.workflowId }),
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          this.record(clientId, 'skipped', { code: 'ALREADY_RUNNING', message: `a rotation of ${clientId} is already running (${this.childId(clientId)})` });
          return;
        }
        if (isCancellation(err)) throw err;
        this.record(clientId, 'failed', describeFailure(err));
        return;
      }
      const ended = child.result().then(
        (result): { result: RotationResult } | { err: unknown } => ({ result }),
        (err: unknown) => ({ err }),
      );
      if (this.follow) {
        const live = new Promise<'live'>((resolve) => {
          if (this.liveEarly.delete(clientId)) resolve('live');
          else this.liveWaiters.set(clientId, () => resolve('live'));
        });
        const first = await Promise.race([ended, live]);
        this.liveWaiters.delete(clientId);
        if (first === 'live') {
          // Live: the slot is free; the child is followed until it ends (its result, or its `ended` signal).
          this.wentLiveNow(clientId);
          void ended.then((end) => {
            if (this.following.delete(clientId)) this.recordEnd(clientId, end);
          });
          return;
        }
        // A child that finalized without waiting never says it is live (lean-rotation-v1): it went live all the same.
        if ('result' in first && first.result.status === 'finalized') {
          this.wentLive += 1;
          this.lastLiveAt = new Date().toISOString();
        }
        this.recordEnd(clientId, first);
        return;
      }
      this.recordEnd(clientId, await ended);
    } finally {
      this.inFlight.delete(clientId);
      this.showDetails();
    }
  }

  private recordEnd(clientId: string, end: { result: RotationResult } | { err: unknown }): void {
    if ('result' in end) {
      this.record(clientId, end.result.status, end.result.error ?? undefined);
      return;
    }
    // A failed rotation fails its workflow with the result in the details; otherwise cancelled, terminated or timed
    // out: the child's own saga decided what happened to the pins.
    const result = rotationResultOfFailure(end.err);
    if (result) this.record(clientId, result.status, result.error ?? undefined);
    else this.record(clientId, 'failed', describeFailure(end.err));
  }

  private wentLiveNow(clientId: string): void {
    const now = new Date().toISOString();
    this.following.set(clientId, now);
    this.wentLive += 1;
    this.lastLiveAt = now;
    this.showDetails();
  }

  /** A child says it is live or ended (by signal, so children of earlier runs reach this one). */
  onChildEvent(e: ChildRotationEvent): void {
    if (!e || typeof e.clientId !== 'string') return;
    const { clientId } = e;
    if (e.event === 'live') {
      const waiter = this.liveWaiters.get(clientId);
      if (waiter) waiter();
      else if (this.inFlight.has(clientId) && !this.following.has(clientId)) this.liveEarly.add(clientId);
      return;
    }
    // `ended` counts only for a child followed past live; one still going live is counted from its result.
    if (e.event === 'ended' && this.following.delete(clientId)) {
      const status = FLEET_OUTCOMES.includes(e.status as FleetOutcome) ? (e.status as FleetOutcome) : 'failed';
      this.record(clientId, status, e.error);
    }
  }

  /**
   * After the lanes: waits for the followed children to end, or until the history should be rolled over (they
   * are carried and keep reaching the next run by their signals).
   */
  async awaitFollowed(): Promise<void> {
    if (this.following.size === 0) return;
    this.state = 'draining';
    this.showDetails();
    await condition(() => this.following.size === 0 || workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 8000);
  }

  /** Cancelling the fleet cancels its followed children (started with ABANDON): each saga restores its client. */
  async cancelFollowed(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      await Promise.all(
        [...this.following.keys()].map(async (clientId) => {
          try {
            await getExternalWorkflowHandle(this.childId(clientId)).cancel();
          } catch (err) {
            log.warn('could not cancel a followed child', { clientId, error: String(err) });
          }
        }),
      );
    });
  }

  private rollOver(): boolean {
    return this.launched >= this.settings.continueAsNewEvery || workflowInfo().continueAsNewSuggested;
  }

  /** One of `concurrency` lanes: takes the next client, rotates it, repeats; so at most that many are in flight. */
  async lane(root: CancellationScope): Promise<void> {
    while (!root.consideredCancelled) {
      if (this.rollOver()) {
        // Stop launching; the other lanes' children finish, then the run continues as new.
        if (this.state === 'running') this.state = 'draining';
        return;
      }
      // Reserved before waiting for a client, so lanes waiting on the same page read cannot overshoot the batch.
      this.launched += 1;
      let client: FleetClient | undefined;
      try {
        client = await this.nextClient();
      } catch (err) {
        this.launched -= 1;
        if (isCancellation(err)) return;
        throw err;
      }
      if (!client) {
        this.launched -= 1;
        return;
      }
      try {
        await this.rotateOne(client);
      } catch (err) {
        if (!isCancellation(err)) throw err;
        // Cancelled before its child started: the client was not touched, so it counts as still queued.
        this.queue.push(client);
        return;
      }
    }
  }

  /** The queue is empty and the listing complete: only children already started remain. */
  nothingLeftToStart(): boolean {
    return this.head >= this.queue.length && (!this.listing || this.listing.complete);
  }

  /** What the next run needs: the clients not started yet, the children followed, and the counts so far. */
  carryOver(): { remaining: FleetClient[]; carry: FleetCarry } | undefined {
    const remaining = this.queue.slice(this.head);
    if (remaining.length === 0 && (!this.listing || this.listing.complete) && this.following.size === 0) return undefined;
    const carry: FleetCarry = {
      startedAt: this.startedAt,
      runs: this.runs,
      discovered: this.discovered,
      byStatus: this.byStatus,
      skippedBy: this.skippedBy,
      failures: this.failures,
      failuresOmitted: this.failuresOmitted,
      maxRunning: this.maxRunning,
      ...(this.listing ? { listing: this.listing } : {}),
      ...(this.following.size > 0 ? { following: [...this.following].map(([clientId, liveAt]) => ({ clientId, liveAt })) } : {}),
      ...(this.follow ? { wentLive: this.wentLive, liveMsTotal: this.liveMsTotal } : {}),
    };
    return { remaining, carry };
  }
}

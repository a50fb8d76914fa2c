/**
 * A small Prometheus registry for the service's own metrics (the Temporal runtime exports its own; the metrics
 * server serves both on one endpoint). Text exposition format 0.0.4; `promtool check metrics` and a real
 * Prometheus scrape it in the tests. Every metric name is listed in docs/metrics.md.
 */

type Labels = Record<string, string>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => {
      if (!LABEL_NAME.test(k) || k.startsWith('__')) throw new Error(`invalid Prometheus label name "${k}"`);
      return `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
    })
    .join(',');
}

function fmt(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN';
}

function header(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
}

function checkName(name: string): void {
  if (!METRIC_NAME.test(name)) throw new Error(`invalid Prometheus metric name "${name}"`);
}

interface Metric {
  readonly names: readonly string[];
  render(): string;
}

/**
 * A monotonic counter. `aliases` expose the same series under further names, so a metric can be renamed
 * (e.g. given the `pinrotate_` prefix) without breaking the dashboards and rules that use the old one.
 */
export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  readonly names: readonly string[];
  constructor(readonly name: string, readonly help: string, opts: { aliases?: string[]; initial?: Labels[] } = {}) {
    this.names = [name, ...(opts.aliases ?? [])];
    this.names.forEach(checkName);
    // Series that start at 0 let `increase()` see the first event after a restart.
    for (const labels of opts.initial ?? []) this.values.set(labelKey(labels), 0);
  }
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${this.name} can only go up (got ${by})`);
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines: string[] = [];
    for (const name of this.names) {
      lines.push(...header(name, this.help, 'counter'));
      for (const [key, value] of this.values) lines.push(`${name}${key ? `{${key}}` : ''} ${fmt(value)}`);
    }
    return lines.join('\n');
  }
}

export class Gauge implements Metric {
  private values = new Map<string, number>();
  readonly names: readonly string[];
  constructor(readonly name: string, readonly help: string) {
    checkName(name);
    this.names = [name];
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  get(labels: Labels = {}): number | undefined {
    return this.values.get(labelKey(labels));
  }
  delete(labels: Labels): void {
    this.values.delete(labelKey(labels));
  }
  /** Replaces every series at once: a series that is not in `entries` is gone (a deleted client, say). */
  replaceAll(entries: Iterable<[Labels, number]>): void {
    const next = new Map<string, number>();
    for (const [labels, value] of entries) next.set(labelKey(labels), value);
    this.values = next;
  }
  render(): string {
    const lines = header(this.name, this.help, 'gauge');
    for (const [key, value] of this.values) lines.push(`${this.name}${key ? `{${key}}` : ''} ${fmt(value)}`);
    return lines.join('\n');
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  readonly names: readonly string[];
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    checkName(name);
    this.names = [name];
  }
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i] += 1;
    });
    s.sum += value;
    s.count += 1;
  }
  render(): string {
    const lines = header(this.name, this.help, 'histogram');
    for (const [key, s] of this.series) {
      const sep = key ? `${key},` : '';
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${key ? `{${key}}` : ''} ${fmt(s.sum)}`);
      lines.push(`${this.name}_count${key ? `{${key}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export type PinRole = 'primary' | 'fallback' | 'backup';

/** One client as the inventory found it: what is pinned, and what covers its next rotation. */
export interface InventoryClient {
  clientId: string;
  /** The active pins with the expiry of the certificate each names (ISO 8601, as on the platform). */
  pins: ReadonlyArray<{ role: PinRole; notAfter: string }>;
  /** The client's rotation that is running now, if any. */
  rotation?: {
    /** Waiting for an `approve` since then (ISO 8601); absent when not in the approval phase. */
    awaitingApprovalSince?: string;
    /** When the approval wait gives up (ISO 8601). */
    approvalDeadline?: string;
    /** In phase `draining` and past `maxOverlap`: the fallback stays until an operator acts. */
    atMaxOverlap?: boolean;
    /** Share of handshakes since Apply that matched an active pin; null when there was no traffic. */
    pinMatchRate?: number | null;
  } | null;
  /** Next action time of the client's Temporal Schedule (ISO 8601); null when it has none or it is paused. */
  nextScheduledRotation?: string | null;
}

/** What one inventory run saw of the whole fleet. */
export interface InventorySnapshot {
  /** When the inventory finished. */
  takenAt: Date;
  /**
   * How long these values stand. Past it this worker stops exporting them (another worker's newer inventory
   * speaks for the fleet) and `PinRotationInventoryStale` fires when no worker holds a valid one.
   * About twice the inventory schedule's interval.
   */
  validForSeconds: number;
  /** Every client on the platform. */
  clients: ReadonlyArray<InventoryClient>;
  /** Fleet-wide counts from Temporal's visibility (search attribute RotationStatus). */
  rotationsAwaitingApproval: number;
  rotationsDraining: number;
  rotationsFailedLastDay: number;
}

/** Outcome statuses of a rotation (DESIGN.md §4), initialised at 0 so a first failure is seen by `increase()`. */
const OUTCOMES = ['finalized', 'rotated', 'rolled_back', 'refused', 'dry_run', 'failed'];

const seconds = (iso: string | undefined | null): number | undefined => {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
};

/** The rotation service's metrics: rotations by outcome, duration, platform calls, 429s, and the fleet inventory. */
export class RotationMetrics {
  readonly rotations = new Counter('rotations_total', 'Rotations ended, by outcome (finalized, rolled_back, refused, …).', { initial: OUTCOMES.map((status) => ({ status })) });
  readonly duration = new Histogram('rotation_duration_seconds', 'Wall time of a rotation from start to its end.', [1, 5, 15, 60, 300, 3600, 86400, 604800]);
  readonly compensationFailed = new Counter('pinrotate_compensation_failed_total', 'Rotations that ended COMPENSATION_FAILED: the platform could not be restored and a human must act.', { initial: [{}] });
  readonly platformRequests = new Counter('platform_requests_total', 'Platform API requests, by method and HTTP status (0 = no response).');
  readonly rateLimited = new Counter('pinrotate_platform_rate_limited_total', '429 answers received from the platform by the adapter.', { aliases: ['platform_rate_limited_total'], initial: [{}] });
  readonly tokenGrants = new Counter('platform_token_grants_total', 'OAuth token grants made by this worker.');
  readonly daysToExpiry = new Gauge('client_certificate_days_to_expiry', 'Days until the deployed certificate (primary pin) of a client expires, for clients a rotation read on this worker.');

  // Written only by recordInventory, all at once, and exported only while the inventory is valid.
  readonly expiry = new Gauge('client_certificate_expiry_timestamp_seconds', 'Expiry (notAfter, Unix seconds) of the certificate each active pin of a client names, from the last inventory.');
  readonly rotationRunning = new Gauge('pinrotate_client_rotation_running', '1 when a rotation of the client is running, from the last inventory.');
  readonly nextRotation = new Gauge('pinrotate_client_next_rotation_timestamp_seconds', 'Next action time (Unix seconds) of the client\'s rotation schedule; absent when it has none or it is paused.');
  readonly approvalSince = new Gauge('pinrotate_rotation_awaiting_approval_since_timestamp_seconds', 'Since when (Unix seconds) a rotation of the client has been waiting for approval.');
  readonly approvalDeadline = new Gauge('pinrotate_rotation_approval_deadline_timestamp_seconds', 'When (Unix seconds) the approval wait of the client\'s rotation gives up.');
  readonly atMaxOverlap = new Gauge('pinrotate_drain_at_max_overlap', '1 when the client\'s rotation is draining past maxOverlap and waits for an operator (finalize --force or rollback).');
  readonly pinMatchRatio = new Gauge('pinrotate_pin_match_ratio', 'Share of the client\'s handshakes since Apply that matched an active pin (absent without traffic).');
  readonly awaitingApproval = new Gauge('pinrotate_rotations_awaiting_approval', 'Rotations waiting for approval, fleet-wide, from the last inventory.');
  readonly draining = new Gauge('pinrotate_rotations_draining', 'Rotations in phase draining, fleet-wide, from the last inventory.');
  readonly failedLastDay = new Gauge('pinrotate_rotations_failed_last_day', 'Rotations that ended failed in the 24 hours before the last inventory, fleet-wide.');
  readonly inventoryClients = new Gauge('pinrotate_inventory_clients', 'Clients the last inventory listed.');

  // Per running rotation, set by its telemetry readings on the worker that ran them (the inventory-owned
  // pinrotate_pin_match_ratio / pinrotate_drain_at_max_overlap are fleet-wide and replaced as a whole).
  readonly rotationPinMatchRatio = new Gauge('pinrotate_rotation_pin_match_ratio', 'Share of the client\'s handshakes since Apply that matched an active pin, at the rotation\'s last telemetry reading on this worker (absent without traffic).');
  readonly rotationDraining = new Gauge('pinrotate_rotation_draining', '1 while the client\'s rotation waits in phase draining for its fallback pin to go quiet (2: past maxOverlap, waiting for an operator), else 0.');

  // Always exported, so staleness itself is visible.
  readonly inventoryLastSuccess = new Gauge('pinrotate_inventory_last_success_timestamp_seconds', 'When (Unix seconds) this worker last completed an inventory of every client.');
  readonly inventoryValidFor = new Gauge('pinrotate_inventory_valid_for_seconds', 'How long the last inventory\'s values stand before they are no longer exported.');
  readonly inventoryRuns = new Counter('pinrotate_inventory_runs_total', 'Inventory runs, by outcome (success, failure).', { initial: [{ outcome: 'success' }, { outcome: 'failure' }] });

  private inventoryValidUntilMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts a rotation's end once (the caller makes sure a retried audit write is not a second end). */
  recordRotationEnd(end: { status: string; errorCode?: string | null; durationMs?: number }): void {
    this.rotations.inc({ status: end.status });
    if (end.durationMs !== undefined) this.duration.observe({ status: end.status }, end.durationMs / 1000);
    if (end.errorCode === 'COMPENSATION_FAILED') this.compensationFailed.inc();
  }

  /** One platform answer (status undefined or 0: no answer); a 429 also counts as rate limiting. */
  recordPlatformResponse(method: string, status: number | undefined): void {
    this.platformRequests.inc({ method, status: String(status ?? 0) });
    if (status === 429) this.rateLimited.inc();
  }

  /** Replaces the fleet's inventory gauges with what one inventory run saw: every client, every count. */
  recordInventory(snapshot: InventorySnapshot): void {
    if (!(snapshot.validForSeconds > 0)) throw new Error(`inventory validForSeconds must be positive (got ${snapshot.validForSeconds})`);
    const expiry: [Labels, number][] = [];
    const running: [Labels, number][] = [];
    const next: [Labels, number][] = [];
    const since: [Labels, number][] = [];
    const deadline: [Labels, number][] = [];
    const atMax: [Labels, number][] = [];
    const match: [Labels, number][] = [];
    for (const c of snapshot.clients) {
      const client_id = c.clientId;
      for (const pin of c.pins) {
        const notAfter = seconds(pin.notAfter);
        if (notAfter !== undefined) expiry.push([{ client_id, role: pin.role }, notAfter]);
      }
      running.push([{ client_id }, c.rotation ? 1 : 0]);
      const nextAt = seconds(c.nextScheduledRotation);
      if (nextAt !== undefined) next.push([{ client_id }, nextAt]);
      if (c.rotation) {
        const s = seconds(c.rotation.awaitingApprovalSince);
        if (s !== undefined) since.push([{ client_id }, s]);
        const d = seconds(c.rotation.approvalDeadline);
        if (d !== undefined) deadline.push([{ client_id }, d]);
        atMax.push([{ client_id }, c.rotation.atMaxOverlap ? 1 : 0]);
        const rate = c.rotation.pinMatchRate;
        if (typeof rate === 'number' && Number.isFinite(rate)) match.push([{ client_id }, rate]);
      }
    }
    this.expiry.replaceAll(expiry);
    this.rotationRunning.replaceAll(running);
    this.nextRotation.replaceAll(next);
    this.approvalSince.replaceAll(since);
    this.approvalDeadline.replaceAll(deadline);
    this.atMaxOverlap.replaceAll(atMax);
    this.pinMatchRatio.replaceAll(match);
    this.awaitingApproval.set({}, snapshot.rotationsAwaitingApproval);
    this.draining.set({}, snapshot.rotationsDraining);
    this.failedLastDay.set({}, snapshot.rotationsFailedLastDay);
    this.inventoryClients.set({}, snapshot.clients.length);
    const takenAtMs = snapshot.takenAt.getTime();
    this.inventoryLastSuccess.set({}, takenAtMs / 1000);
    this.inventoryValidFor.set({}, snapshot.validForSeconds);
    this.inventoryValidUntilMs = takenAtMs + snapshot.validForSeconds * 1000;
    this.inventoryRuns.inc({ outcome: 'success' });
  }

  /** An inventory run that did not complete: the previous values stand until they expire. */
  recordInventoryFailure(): void {
    this.inventoryRuns.inc({ outcome: 'failure' });
  }

  private readonly alwaysExported: Metric[] = [this.rotations, this.duration, this.compensationFailed, this.platformRequests, this.rateLimited, this.tokenGrants, this.daysToExpiry, this.inventoryLastSuccess, this.inventoryValidFor, this.inventoryRuns, this.rotationPinMatchRatio, this.rotationDraining];
  private readonly inventoryExported: Metric[] = [this.expiry, this.rotationRunning, this.nextRotation, this.approvalSince, this.approvalDeadline, this.atMaxOverlap, this.pinMatchRatio, this.awaitingApproval, this.draining, this.failedLastDay, this.inventoryClients];

  /** Every metric name this registry can expose (histograms by their base name). */
  names(): string[] {
    return [...this.alwaysExported, ...this.inventoryExported].flatMap((m) => [...m.names]);
  }

  render(): string {
    const metrics = this.now() <= this.inventoryValidUntilMs ? [...this.alwaysExported, ...this.inventoryExported] : this.alwaysExported;
    return `${metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

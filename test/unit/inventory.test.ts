import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createInventoryActivities } from '../../src/activities/inventory';
import { createActivities } from '../../src/activities';
import { EmulatorAdmin, startEmulator, type EmulatorHandle } from '../../src/emulator';
import { FailureType, PlatformError } from '../../src/genesys/errors';
import { GenesysPlatform } from '../../src/genesys/platform-client';
import { RatePacer } from '../../src/genesys/rate-pacer';
import type { ClientPage, OAuthClientState, PlatformPort } from '../../src/genesys/types';
import { RotationMetrics } from '../../src/metrics/registry';
import type { Pin } from '../../src/pins/types';
import type { FleetView, RotationRun, ScheduleCoverage } from '../../src/schedules/visibility';
import { rotationListQuery } from '../../src/schedules/visibility';
import type { RotationStatus } from '../../src/contract';
import { FakeAudit, FakePki } from './fakes';

const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

function pin(role: Pin['role'], daysLeft: number, subject = `CN=${role}`): Pin {
  return {
    role,
    sha256Spki: Buffer.alloc(32, daysLeft).toString('base64'),
    sha256Certificate: Buffer.alloc(32, daysLeft + 1).toString('base64'),
    notAfter: new Date(NOW.getTime() + daysLeft * DAY).toISOString(),
    serialNumber: `0${daysLeft}`,
    subject,
  };
}

function client(id: string, pins: Pin[], extra: Partial<OAuthClientState> = {}): OAuthClientState {
  return { id, name: `client ${id}`, state: 'active', mtlsRequired: true, certificateChain: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', pins, version: 1, ...extra };
}

/** A platform that pages like the gateway, records every page asked for, and answers 429s when armed. */
class PagingPlatform implements PlatformPort {
  readonly asked: Array<{ pageNumber: number; pageSize: number }> = [];
  /** Answer the next N list requests 429 with this Retry-After. */
  limited = { times: 0, retryAfterMs: 0 };
  failAt?: number;
  constructor(readonly clients: OAuthClientState[]) {}
  async getClient(): Promise<OAuthClientState> {
    throw new Error('not used');
  }
  async patchClient(): Promise<OAuthClientState> {
    throw new Error('not used');
  }
  async listClients(pageNumber: number, pageSize: number): Promise<ClientPage> {
    this.asked.push({ pageNumber, pageSize });
    if (this.limited.times > 0) {
      this.limited.times -= 1;
      throw new PlatformError('GET clients: HTTP 429', { type: FailureType.RateLimited, status: 429, retryAfterMs: this.limited.retryAfterMs });
    }
    if (this.failAt === pageNumber) throw new PlatformError('GET clients: HTTP 503', { type: FailureType.Unavailable, status: 503 });
    const entities = this.clients.slice((pageNumber - 1) * pageSize, pageNumber * pageSize).map((c) => structuredClone(c));
    return { entities, pageNumber, pageCount: Math.max(1, Math.ceil(this.clients.length / pageSize)), total: this.clients.length };
  }
}

class FakeFleet implements FleetView {
  constructor(
    readonly running: RotationRun[] = [],
    readonly statuses = new Map<string, Record<string, unknown>>(),
    readonly scheduled: ScheduleCoverage[] = [],
    readonly failed = 0,
  ) {}
  failedSince: Date[] = [];
  async runningRotations() {
    return this.running;
  }
  async latestRotations() {
    return new Map(this.running.map((r) => [r.clientId, r]));
  }
  async countFailedSince(since: Date) {
    this.failedSince.push(since);
    return this.failed;
  }
  async rotationStatus(workflowId: string) {
    return this.statuses.get(workflowId) as RotationStatus | undefined;
  }
  async schedules() {
    return this.scheduled;
  }
}

function run(clientId: string, status: string): RotationRun {
  return { clientId, workflowId: `pin-rotation-${clientId}`, runId: `run-${clientId}`, status, executionStatus: 'RUNNING', startedAt: NOW.toISOString(), closedAt: null };
}

function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('inventory activities', () => {
  test('inventoryPage: one page of clients with pins and no chain; the expiry filter reads the primary pin', async () => {
    const platform = new PagingPlatform([client('a', [pin('primary', 10), pin('fallback', 2)]), client('b', [pin('primary', 40)]), client('c', [])]);
    const acts = createInventoryActivities({ platform, clock: () => NOW });
    const page = await acts.inventoryPage({ pageNumber: 1, pageSize: 2 });
    assert.deepEqual(page.clients.map((c) => c.id), ['a', 'b']);
    assert.equal(page.pageCount, 2);
    assert.equal(page.total, 3);
    assert.equal(JSON.stringify(page).includes('BEGIN CERTIFICATE'), false, 'no chain in what enters history');
    assert.deepEqual(page.clients[0].pins.map((p) => [p.role, p.subject, p.notAfter]), [
      ['primary', 'CN=primary', new Date(NOW.getTime() + 10 * DAY).toISOString()],
      ['fallback', 'CN=fallback', new Date(NOW.getTime() + 2 * DAY).toISOString()],
    ]);
    const soon = await acts.inventoryPage({ pageNumber: 1, pageSize: 3, expiringBefore: new Date(NOW.getTime() + 30 * DAY).toISOString() });
    // a's primary expires in 10 days (its fallback's 2 days do not count), b's in 40; c has no primary.
    assert.deepEqual(soon.clients.map((c) => c.id), ['a']);
    assert.equal(soon.scanned, 3);
    await assert.rejects(acts.inventoryPage({ pageNumber: 0, pageSize: 2 }), (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable);
    await assert.rejects(acts.inventoryPage({ pageNumber: 1, pageSize: 501 }), (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable);
  });

  test('inventoryPage: a 429 becomes a RateLimited failure retried no sooner than Retry-After', async () => {
    const platform = new PagingPlatform([client('a', [pin('primary', 10)])]);
    platform.limited = { times: 1, retryAfterMs: 7000 };
    const acts = createInventoryActivities({ platform });
    await assert.rejects(acts.inventoryPage({ pageNumber: 1, pageSize: 10 }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.equal(e.type, 'RateLimited');
      assert.ok(Number(e.nextRetryDelay) >= 7000, `nextRetryDelay ${String(e.nextRetryDelay)}`);
      return true;
    });
  });

  test('inventoryPage: control characters and overlong text from the platform are bounded before history', async () => {
    const platform = new PagingPlatform([client('a', [pin('primary', 10, `CN=evil\u001b[31m${'x'.repeat(1000)}`)], { name: 'n\r\nm' })]);
    const { clients } = await createInventoryActivities({ platform }).inventoryPage({ pageNumber: 1, pageSize: 10 });
    assert.equal(clients[0].name, 'n  m');
    assert.ok(clients[0].pins[0].subject.length <= 256);
    assert.equal([...clients[0].pins[0].subject].some((ch) => ch.charCodeAt(0) < 0x20), false);
  });

  test('refreshInventory pages through every client and records every client, its rotation and schedule, and the counts', async () => {
    const clients = Array.from({ length: 7 }, (_, i) => client(`c${i}`, [pin('primary', 5 + i), ...(i % 2 ? [pin('backup', 300)] : [])]));
    clients.push(client('nopins', []));
    const platform = new PagingPlatform(clients);
    const metrics = new RotationMetrics(() => NOW.getTime());
    const statuses = new Map<string, Record<string, unknown>>([
      ['pin-rotation-c1', { phase: 'awaiting_approval', pinMatchRate: null, timestamps: { awaiting_approval: '2026-05-31T20:00:00.000Z' }, approvalDeadline: '2026-06-02T20:00:00.000Z' }],
      ['pin-rotation-c2', { phase: 'draining', pinMatchRate: 0.5, timestamps: {}, drain: { state: 'awaiting_operator' } }],
    ]);
    const fleet = new FakeFleet(
      [run('c1', 'awaiting_approval'), run('c2', 'draining'), run('c3', 'overlap')],
      statuses,
      [
        { clientId: 'c0', scheduleId: 'pin-rotation-schedule-c0', paused: false, note: null, nextRunAt: '2026-06-01T03:00:00.000Z' },
        { clientId: 'c4', scheduleId: 'pin-rotation-schedule-c4', paused: true, note: 'freeze', nextRunAt: null },
      ],
      2,
    );
    const acts = createInventoryActivities({ platform, metrics, fleet, clock: () => NOW });
    const summary = await acts.refreshInventory({ pageSize: 3, validForSeconds: 1800 });

    assert.deepEqual(platform.asked.map((a) => a.pageNumber), [1, 2, 3], 'every page once, in order');
    assert.equal(summary.clients, 8);
    assert.equal(summary.pages, 3);
    assert.equal(summary.rotationsAwaitingApproval, 1);
    assert.equal(summary.rotationsDraining, 1);
    assert.equal(summary.rotationsFailedLastDay, 2);
    assert.equal(fleet.failedSince[0].getTime(), NOW.getTime() - DAY, 'failed counted over the last day');

    const text = metrics.render();
    const expiry = series(text, 'client_certificate_expiry_timestamp_seconds');
    for (const c of clients) {
      for (const p of c.pins) {
        assert.ok(expiry.includes(`client_certificate_expiry_timestamp_seconds{client_id="${c.id}",role="${p.role}"} ${Date.parse(p.notAfter) / 1000}`), `${c.id} ${p.role}`);
      }
    }
    assert.equal(expiry.length, clients.reduce((n, c) => n + c.pins.length, 0));
    assert.equal(series(text, 'pinrotate_client_rotation_running').length, 8, 'every client has a running series');
    assert.ok(text.includes('pinrotate_client_rotation_running{client_id="c1"} 1'));
    assert.ok(text.includes('pinrotate_client_rotation_running{client_id="c0"} 0'));
    assert.ok(text.includes(`pinrotate_rotation_awaiting_approval_since_timestamp_seconds{client_id="c1"} ${Date.parse('2026-05-31T20:00:00Z') / 1000}`));
    assert.ok(text.includes(`pinrotate_rotation_approval_deadline_timestamp_seconds{client_id="c1"} ${Date.parse('2026-06-02T20:00:00Z') / 1000}`));
    assert.ok(text.includes('pinrotate_drain_at_max_overlap{client_id="c2"} 1'));
    assert.ok(text.includes('pinrotate_pin_match_ratio{client_id="c2"} 0.5'));
    assert.ok(text.includes(`pinrotate_client_next_rotation_timestamp_seconds{client_id="c0"} ${Date.parse('2026-06-01T03:00:00Z') / 1000}`));
    assert.equal(text.includes('pinrotate_client_next_rotation_timestamp_seconds{client_id="c4"}'), false, 'a paused schedule is no next rotation');
    assert.ok(text.includes('pinrotate_rotations_awaiting_approval 1'));
    assert.ok(text.includes('pinrotate_rotations_draining 1'));
    assert.ok(text.includes('pinrotate_rotations_failed_last_day 2'));
    assert.ok(text.includes('pinrotate_inventory_clients 8'));
    assert.ok(text.includes('pinrotate_inventory_valid_for_seconds 1800'));
    assert.ok(text.includes('pinrotate_inventory_runs_total{outcome="success"} 1'));
  });

  test('refreshInventory waits out a 429 for at least Retry-After, then asks the same page again', async () => {
    const clients = Array.from({ length: 5 }, (_, i) => client(`r${i}`, [pin('primary', 20)]));
    const platform = new PagingPlatform(clients);
    const slept: number[] = [];
    const metrics = new RotationMetrics(() => NOW.getTime());
    const acts = createInventoryActivities({ platform, metrics, fleet: new FakeFleet(), clock: () => NOW, sleep: async (ms) => void slept.push(ms) });
    platform.limited = { times: 2, retryAfterMs: 3000 };
    const summary = await acts.refreshInventory({ pageSize: 2, validForSeconds: 600 });
    assert.deepEqual(slept, [3000, 3000]);
    assert.deepEqual(platform.asked.map((a) => a.pageNumber), [1, 1, 1, 2, 3]);
    assert.equal(summary.rateLimitedWaits, 2);
    assert.equal(summary.clients, 5);
    assert.equal(series(metrics.render(), 'client_certificate_expiry_timestamp_seconds').length, 5);

    // A long Retry-After is slept in slices (a heartbeat before each), never less in total.
    slept.length = 0;
    platform.limited = { times: 1, retryAfterMs: 75_000 };
    await acts.refreshInventory({ pageSize: 5, validForSeconds: 600 });
    assert.deepEqual(slept, [30_000, 30_000, 15_000]);
  });

  test('a refresh that fails counts a failure and leaves the last inventory standing', async () => {
    const platform = new PagingPlatform([client('a', [pin('primary', 10)]), client('b', [pin('primary', 11)])]);
    const metrics = new RotationMetrics(() => NOW.getTime());
    const acts = createInventoryActivities({ platform, metrics, fleet: new FakeFleet(), clock: () => NOW, maxRateLimitWaits: 1, sleep: async () => undefined });
    await acts.refreshInventory({ pageSize: 1, validForSeconds: 600 });
    platform.failAt = 2;
    await assert.rejects(acts.refreshInventory({ pageSize: 1, validForSeconds: 600 }), (e: unknown) => e instanceof ApplicationFailure && e.type === 'PlatformUnavailable');
    platform.failAt = undefined;
    platform.limited = { times: 5, retryAfterMs: 100 };
    await assert.rejects(acts.refreshInventory({ pageSize: 1, validForSeconds: 600 }), (e: unknown) => e instanceof ApplicationFailure && e.type === 'RateLimited');
    const text = metrics.render();
    assert.ok(text.includes('pinrotate_inventory_runs_total{outcome="failure"} 2'));
    assert.ok(text.includes('pinrotate_inventory_runs_total{outcome="success"} 1'));
    assert.equal(series(text, 'client_certificate_expiry_timestamp_seconds').length, 2, 'the last complete inventory still stands');
  });

  test('refreshInventory without metrics or a Temporal view is refused, not silently skipped', async () => {
    const platform = new PagingPlatform([]);
    await assert.rejects(createInventoryActivities({ platform, fleet: new FakeFleet() }).refreshInventory({ pageSize: 10, validForSeconds: 60 }), /no metrics registry/);
    await assert.rejects(createInventoryActivities({ platform, metrics: new RotationMetrics() }).refreshInventory({ pageSize: 10, validForSeconds: 60 }), /no Temporal client/);
  });

  test('createActivities registers the inventory activities with the rotation\'s', () => {
    const acts = createActivities({ platform: new PagingPlatform([]), pki: new FakePki(), audit: new FakeAudit(), certificates: { trustPem: '', expectedIssuer: 'x', minRemainingMs: 0 } });
    assert.equal(typeof acts.inventoryPage, 'function');
    assert.equal(typeof acts.refreshInventory, 'function');
  });

  test('visibility queries: status, failed workflows, client prefix; nothing outside the safe alphabet gets in', () => {
    assert.equal(rotationListQuery({ status: 'awaiting_approval' }), "WorkflowType = 'pinRotation' AND RotationStatus = 'awaiting_approval'");
    assert.equal(rotationListQuery({ status: 'running', clientPrefix: 'crm-' }), "WorkflowType = 'pinRotation' AND ExecutionStatus = 'Running' AND ClientId STARTS_WITH 'crm-'");
    assert.equal(
      rotationListQuery({ status: 'failed', since: new Date('2026-01-01T00:00:00Z') }),
      "WorkflowType = 'pinRotation' AND (RotationStatus = 'failed' OR ExecutionStatus = 'Failed') AND CloseTime > '2026-01-01T00:00:00.000Z'",
    );
    assert.throws(() => rotationListQuery({ clientPrefix: "x' OR '1'='1" }), /client prefix/);
  });
});

describe('inventory against the emulator: the adapter paces by inin-ratelimit headers, 429s wait for Retry-After', () => {
  let now = Date.parse('2026-06-01T00:00:00Z');
  const clock = () => now;
  let emu: EmulatorHandle;
  let admin: EmulatorAdmin;
  const ids = Array.from({ length: 9 }, (_, i) => `paced-${i}`);

  before(async () => {
    // 4 requests per token and (fake) minute: paging 9 clients 2 at a time needs 5 requests.
    emu = await startEmulator({ rateLimitPerMinute: 4, now: clock });
    admin = new EmulatorAdmin(emu.url, emu.adminToken);
    await admin.createClient({ id: 'worker', name: 'worker', secret: 'worker-secret', mtlsRequired: false });
    for (const id of ids) {
      const { certificatePem } = await admin.issueCertificate({ commonName: id, days: 30 });
      await admin.createClient({ id, name: id, secret: `${id}-secret`, mtlsRequired: true, certificateChain: certificatePem });
    }
  });
  after(async () => {
    await emu.close();
  });

  function platformWith(metrics: RotationMetrics, pacer?: RatePacer): GenesysPlatform {
    const platform = new GenesysPlatform({ clientId: 'worker', clientSecret: 'worker-secret', gatewayUrl: emu.url }, clock, metrics);
    // The pacer's sleeps move the fake clock the emulator's windows run on.
    if (pacer) (platform as unknown as { pacer: RatePacer }).pacer = pacer;
    return platform;
  }

  test('a spent window holds the next page until it resets: every client, no 429', async () => {
    const paced: number[] = [];
    const pacer = new RatePacer(clock, 120_000, async (ms) => {
      paced.push(ms);
      now += ms;
    });
    const metrics = new RotationMetrics(clock);
    const acts = createInventoryActivities({ platform: platformWith(metrics, pacer), metrics, fleet: new FakeFleet(), clock: () => new Date(now) });
    const summary = await acts.refreshInventory({ pageSize: 2, validForSeconds: 600 });
    assert.equal(summary.clients, ids.length + 1);
    assert.equal(summary.rateLimitedWaits, 0);
    assert.equal(metrics.rateLimited.get(), 0, 'no 429 answered');
    assert.equal(paced.length, 1, `one wait for the window to reset (${paced.join(', ')})`);
    assert.ok(paced[0] > 0 && paced[0] <= 60_000);
    const text = metrics.render();
    for (const id of ids) assert.match(text, new RegExp(`client_certificate_expiry_timestamp_seconds\\{client_id="${id}",role="primary"\\} \\d+`));
  });

  test('past the pacer\'s patience the platform answers 429: the page is asked again no sooner than Retry-After', async () => {
    now += 120_000; // a fresh window
    const slept: number[] = [];
    const metrics = new RotationMetrics(clock);
    const acts = createInventoryActivities({
      platform: platformWith(metrics),
      metrics,
      fleet: new FakeFleet(),
      clock: () => new Date(now),
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    const windowStart = now;
    const summary = await acts.refreshInventory({ pageSize: 2, validForSeconds: 600 });
    assert.equal(summary.clients, ids.length + 1);
    assert.ok(summary.rateLimitedWaits >= 1);
    assert.equal(metrics.rateLimited.get(), summary.rateLimitedWaits);
    // The 5th request of the window was refused; the retry came after the window the emulator named had reset.
    assert.ok(slept.every((ms) => ms >= 1000));
    assert.ok(now - windowStart >= 60_000 - 1000, `waited ${now - windowStart} ms of fake time`);
  });
});

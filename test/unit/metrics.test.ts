import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startMetricsServer } from '../../src/metrics/server';
import { RotationMetrics } from '../../src/metrics/registry';
import { populatedMetrics } from './metrics-fixture';

test('the registry renders counters, gauges and histograms in Prometheus text format', () => {
  const m = new RotationMetrics();
  m.rotations.inc({ status: 'finalized' });
  m.rotations.inc({ status: 'finalized' });
  m.rotations.inc({ status: 'rolled_back' });
  m.duration.observe({ status: 'finalized' }, 3);
  m.platformRequests.inc({ method: 'PATCH', status: '200' });
  m.daysToExpiry.set({ client_id: 'a"b' }, 12.5);
  const text = m.render();
  assert.match(text, /^rotations_total\{status="finalized"\} 2$/m);
  assert.match(text, /^rotations_total\{status="rolled_back"\} 1$/m);
  assert.match(text, /^rotation_duration_seconds_bucket\{status="finalized",le="1"\} 0$/m);
  assert.match(text, /^rotation_duration_seconds_bucket\{status="finalized",le="5"\} 1$/m);
  assert.match(text, /^rotation_duration_seconds_count\{status="finalized"\} 1$/m);
  assert.match(text, /^platform_requests_total\{method="PATCH",status="200"\} 1$/m);
  assert.match(text, /^client_certificate_days_to_expiry\{client_id="a\\"b"\} 12.5$/m);
  assert.match(text, /# TYPE rotations_total counter/);
});

test('the metrics server serves /metrics and answers 404 elsewhere', async () => {
  const m = new RotationMetrics();
  m.rotations.inc({ status: 'refused' });
  const server = await startMetricsServer({ port: 0, metrics: m });
  try {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /rotations_total\{status="refused"\} 1/);
    const missing = await fetch(`http://127.0.0.1:${port}/other`);
    assert.equal(missing.status, 404);
    await missing.text();
  } finally {
    await new Promise((r) => server.close(r));
  }
});

/** Parses text exposition 0.0.4 strictly enough to catch what Prometheus would refuse. */
function parseExposition(text: string): { types: Map<string, string>; samples: { name: string; labels: Record<string, string>; value: number }[] } {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  for (const line of text.split('\n').slice(0, -1)) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (help) {
      assert.ok(!helps.has(help[1]), `HELP for ${help[1]} appears once`);
      helps.add(help[1]);
      continue;
    }
    if (type) {
      assert.ok(!types.has(type[1]), `TYPE for ${type[1]} appears once`);
      types.set(type[1], type[2]);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a valid sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value) || m[3] === 'NaN', `value of ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(m[1]) || types.get(family) === 'histogram', `sample ${m[1]} follows its TYPE line`);
    samples.push({ name: m[1], labels, value });
  }
  return { types, samples };
}

test('the populated registry exposes every metric of docs/metrics.md in valid text format, with their labels', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const { types, samples } = parseExposition(populatedMetrics(now).render());
  const expected: Record<string, [string, string[]]> = {
    rotations_total: ['counter', ['status']],
    rotation_duration_seconds: ['histogram', ['status']],
    pinrotate_compensation_failed_total: ['counter', []],
    platform_requests_total: ['counter', ['method', 'status']],
    pinrotate_platform_rate_limited_total: ['counter', []],
    platform_rate_limited_total: ['counter', []],
    platform_token_grants_total: ['counter', []],
    client_certificate_days_to_expiry: ['gauge', ['client_id']],
    client_certificate_expiry_timestamp_seconds: ['gauge', ['client_id', 'role']],
    pinrotate_client_rotation_running: ['gauge', ['client_id']],
    pinrotate_client_next_rotation_timestamp_seconds: ['gauge', ['client_id']],
    pinrotate_rotation_awaiting_approval_since_timestamp_seconds: ['gauge', ['client_id']],
    pinrotate_rotation_approval_deadline_timestamp_seconds: ['gauge', ['client_id']],
    pinrotate_drain_at_max_overlap: ['gauge', ['client_id']],
    pinrotate_pin_match_ratio: ['gauge', ['client_id']],
    pinrotate_rotation_pin_match_ratio: ['gauge', ['client_id']],
    pinrotate_rotation_draining: ['gauge', ['client_id']],
    pinrotate_rotations_awaiting_approval: ['gauge', []],
    pinrotate_rotations_draining: ['gauge', []],
    pinrotate_rotations_failed_last_day: ['gauge', []],
    pinrotate_inventory_clients: ['gauge', []],
    pinrotate_inventory_last_success_timestamp_seconds: ['gauge', []],
    pinrotate_inventory_valid_for_seconds: ['gauge', []],
    pinrotate_inventory_runs_total: ['counter', ['outcome']],
  };
  assert.deepEqual([...types.keys()].sort(), Object.keys(expected).sort());
  assert.deepEqual(new RotationMetrics().names().sort(), Object.keys(expected).sort());
  for (const [name, [type, labelNames]] of Object.entries(expected)) {
    assert.equal(types.get(name), type, name);
    const own = samples.filter((s) => s.name === name || (type === 'histogram' && s.name.startsWith(`${name}_`)));
    assert.ok(own.length > 0, `${name} has samples`);
    for (const s of own) assert.deepEqual(Object.keys(s.labels).filter((l) => l !== 'le').sort(), [...labelNames].sort(), `labels of ${s.name}`);
  }
  // Every doc'd metric is in docs/metrics.md and nothing there is unknown.
  const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'metrics.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([a-z_:]+)` \|/gm)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), Object.keys(expected).sort());
});

test('an inventory sets the expiry of every pin of every client and the fleet counts, measured from its input', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const text = populatedMetrics(now).render();
  const { samples } = parseExposition(text);
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()))?.value;
  assert.equal(value('client_certificate_expiry_timestamp_seconds', { client_id: 'alpha', role: 'primary' }), now / 1000 + 10 * 86400);
  assert.equal(value('client_certificate_expiry_timestamp_seconds', { client_id: 'gamma', role: 'fallback' }), now / 1000 + 3 * 86400);
  assert.equal(value('client_certificate_expiry_timestamp_seconds', { client_id: 'beta', role: 'backup' }), now / 1000 + 300 * 86400);
  assert.equal(value('pinrotate_client_rotation_running', { client_id: 'alpha' }), 0);
  assert.equal(value('pinrotate_client_rotation_running', { client_id: 'beta' }), 1);
  assert.equal(value('pinrotate_client_next_rotation_timestamp_seconds', { client_id: 'alpha' }), undefined);
  assert.equal(value('pinrotate_rotation_awaiting_approval_since_timestamp_seconds', { client_id: 'beta' }), now / 1000 - 5 * 3600);
  assert.equal(value('pinrotate_drain_at_max_overlap', { client_id: 'gamma' }), 1);
  assert.equal(value('pinrotate_drain_at_max_overlap', { client_id: 'beta' }), 0);
  assert.equal(value('pinrotate_pin_match_ratio', { client_id: 'gamma' }), 0.75);
  // no traffic: no series, never a made-up 0 or 1
  assert.equal(value('pinrotate_pin_match_ratio', { client_id: 'beta' }), undefined);
  assert.equal(value('pinrotate_rotations_awaiting_approval'), 1);
  assert.equal(value('pinrotate_inventory_clients'), 3);
  assert.equal(value('pinrotate_inventory_last_success_timestamp_seconds'), now / 1000);
  assert.equal(value('pinrotate_inventory_runs_total', { outcome: 'success' }), 1);
  assert.equal(value('pinrotate_compensation_failed_total'), 1);
  assert.equal(value('rotations_total', { status: 'failed' }), 1);
  assert.equal(value('rotations_total', { status: 'rolled_back' }), 0);
  assert.equal(value('pinrotate_platform_rate_limited_total'), 1);
  assert.equal(value('platform_rate_limited_total'), 1);
  assert.equal(value('platform_requests_total', { method: 'GET', status: '0' }), 1);
});

test('a second inventory replaces the first: a client gone from the platform is gone from the metrics', () => {
  let now = Date.parse('2026-11-30T12:00:00Z');
  const m = new RotationMetrics(() => now);
  const pins = [{ role: 'primary' as const, notAfter: '2027-01-01T00:00:00Z' }];
  m.recordInventory({ takenAt: new Date(now), validForSeconds: 3600, clients: [{ clientId: 'a', pins }, { clientId: 'b', pins }], rotationsAwaitingApproval: 0, rotationsDraining: 0, rotationsFailedLastDay: 0 });
  assert.match(m.render(), /client_id="b"/);
  m.recordInventory({ takenAt: new Date(now), validForSeconds: 3600, clients: [{ clientId: 'a', pins }], rotationsAwaitingApproval: 0, rotationsDraining: 2, rotationsFailedLastDay: 0 });
  assert.doesNotMatch(m.render(), /client_id="b"/);
  assert.match(m.render(), /^pinrotate_rotations_draining 2$/m);
  assert.throws(() => m.recordInventory({ takenAt: new Date(now), validForSeconds: 0, clients: [], rotationsAwaitingApproval: 0, rotationsDraining: 0, rotationsFailedLastDay: 0 }), /validForSeconds/);
  // Past its validity the inventory's series are no longer exported; the staleness gauges stay.
  now += 3601_000;
  const stale = m.render();
  assert.doesNotMatch(stale, /^client_certificate_expiry_timestamp_seconds/m);
  assert.doesNotMatch(stale, /^pinrotate_rotations_draining/m);
  assert.match(stale, /^pinrotate_inventory_last_success_timestamp_seconds \d+/m);
  m.recordInventoryFailure();
  assert.match(m.render(), /^pinrotate_inventory_runs_total\{outcome="failure"\} 1$/m);
});

test('before any inventory no fleet series and no success time are exported, and counters start at 0', () => {
  const text = new RotationMetrics().render();
  assert.doesNotMatch(text, /^pinrotate_inventory_last_success_timestamp_seconds /m);
  assert.doesNotMatch(text, /^client_certificate_expiry_timestamp_seconds/m);
  assert.match(text, /^pinrotate_compensation_failed_total 0$/m);
  assert.match(text, /^rotations_total\{status="failed"\} 0$/m);
  assert.match(text, /^pinrotate_platform_rate_limited_total 0$/m);
  parseExposition(text);
});

test('bad names and negative counter steps are refused', () => {
  const m = new RotationMetrics();
  assert.throws(() => m.rotations.inc({ 'bad-label': 'x' }), /label name/);
  assert.throws(() => m.rotations.inc({ status: 'x' }, -1), /only go up/);
});

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startMetricsServer } from '../../src/metrics/server';
import { RotationMetrics } from '../../src/metrics/registry';
import { freePort, waitFor } from '../../src/temporal/net';
import { populatedMetrics, sampleNames } from './metrics-fixture';

// dist/test/unit → repository root
const root = resolve(__dirname, '..', '..', '..');
const rulesFile = join(root, 'monitoring', 'prometheus', 'pinrotate-rules.yml');
const rulesTestFile = join(root, 'monitoring', 'prometheus', 'pinrotate-rules.test.yml');
const dashboardFile = join(root, 'monitoring', 'grafana', 'pinrotate-dashboard.json');

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const promtool = onPath('promtool');
const prometheus = onPath('prometheus');
const MISSING = 'not on PATH; `bash scripts/install-prometheus.sh` installs Debian\'s prometheus package (CI does)';
if (!promtool) process.stderr.write(`monitoring.test: skipping the promtool checks: promtool ${MISSING}\n`);
if (!prometheus) process.stderr.write(`monitoring.test: skipping the real Prometheus scrape: prometheus ${MISSING}\n`);

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression selects (function names, label lists, matchers, ranges and variables removed). */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![a-zA-Z0-9_:])(?!\s*\()/g)) {
    if (!PROMQL_WORDS.has(m[1])) names.add(m[1]);
  }
  return [...names];
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

function ruleExpressions(): { alert: string; expr: string }[] {
  const doc = parseYaml(readFileSync(rulesFile, 'utf8')) as RuleFile;
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert ?? r.record ?? '?', expr: r.expr })));
}

interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: { id: number; type: string; title: string; gridPos: object; datasource: { type: string }; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
}

function dashboardExpressions(): { where: string; expr: string }[] {
  const d = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
  const out = d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    // label_values(metric, label): the first argument is a selector, the second a label name.
    const lv = /^label_values\(\s*([^,]+),\s*\w+\s*\)$/.exec(q.trim());
    out.push({ where: `variable $${v.name}`, expr: lv ? lv[1] : q });
  }
  return out;
}

/** Every metric a rule or a dashboard panel reads, with where it is read. */
function referencedNames(): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  const add = (name: string, where: string) => refs.set(name, [...(refs.get(name) ?? []), where]);
  for (const r of ruleExpressions()) for (const n of metricNamesIn(r.expr)) add(n, `rule ${r.alert}`);
  for (const d of dashboardExpressions()) for (const n of metricNamesIn(d.expr)) add(n, `dashboard ${d.where}`);
  return refs;
}

function run(cmd: string, args: string[], input?: string): { status: number | null; out: string } {
  const res = spawnSync(cmd, args, { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { status: res.status, out: `${res.stdout ?? ''}${res.stderr ?? ''}` };
}

describe('PromQL name extraction', () => {
  test('finds metric names and leaves functions, labels, keywords, ranges and variables out', () => {
    assert.deepEqual(
      metricNamesIn('sum by (client_id, le) (rate(foo_total{a="b",c=~"$client"}[$__rate_interval])) / on (x) group_left bar:ratio offset 5m > 1e3 unless absent(baz)'),
      ['foo_total', 'bar:ratio', 'baz'],
    );
    assert.deepEqual(metricNamesIn('time() - max(x_seconds + y_seconds) > 21 * 86400'), ['x_seconds', 'y_seconds']);
  });
});

describe('alert rules and dashboard', () => {
  test('the dashboard is Grafana dashboard JSON whose panels all query Prometheus', () => {
    const d = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
    assert.equal(typeof d.title, 'string');
    assert.equal(d.uid, 'pinrotate');
    assert.ok(d.schemaVersion >= 30, 'schemaVersion');
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of d.panels) {
      assert.ok(p.gridPos && p.type, `panel ${p.title} has a type and a position`);
      assert.equal(p.datasource.type, 'prometheus', `panel ${p.title}`);
      assert.ok((p.targets ?? []).length > 0, `panel ${p.title} has queries`);
    }
  });

  test('every metric a rule or the dashboard reads is in the registry\'s exposition', () => {
    const exposed = sampleNames(populatedMetrics().render());
    const refs = referencedNames();
    assert.ok(refs.size >= 10, `found only ${refs.size} metric names in the rules and dashboard`);
    const missing = [...refs].filter(([name]) => !exposed.has(name)).map(([name, where]) => `${name} (${where.join(', ')})`);
    assert.deepEqual(missing, [], `metrics referenced but never exposed:\n${missing.join('\n')}`);
    // The seven alerts of the runbook, by name.
    assert.deepEqual(ruleExpressions().map((r) => r.alert).sort(), [
      'GenesysPlatformRateLimited',
      'PinRotationApprovalWaitingTooLong',
      'PinRotationCompensationFailed',
      'PinRotationDrainStuckAtMaxOverlap',
      'PinRotationFailed',
      'PinRotationInventoryStale',
      'PinnedCertificateExpiringWithoutRotation',
    ]);
  });

  test('every alert is documented in docs/operations.md under the anchor its runbook_url names', () => {
    const doc = readFileSync(join(root, 'docs', 'operations.md'), 'utf8');
    const anchors = new Set([...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    const rules = parseYaml(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { alert: string; annotations: { runbook_url: string } }[] }[] };
    for (const r of rules.groups.flatMap((g) => g.rules)) {
      const anchor = r.annotations.runbook_url.split('#')[1];
      assert.equal(r.annotations.runbook_url, `docs/operations.md#${r.alert.toLowerCase()}`);
      assert.ok(anchors.has(anchor), `docs/operations.md has no section for ${r.alert} (#${anchor})`);
    }
  });

  test('promtool check rules', { skip: promtool ? false : `promtool ${MISSING}` }, () => {
    const res = run(promtool!, ['check', 'rules', rulesFile]);
    process.stderr.write(res.out);
    assert.equal(res.status, 0, res.out);
    assert.match(res.out, /SUCCESS: 7 rules found/);
  });

  test('promtool test rules (each alert firing and silent)', { skip: promtool ? false : `promtool ${MISSING}` }, () => {
    const res = run(promtool!, ['test', 'rules', rulesTestFile]);
    process.stderr.write(res.out);
    assert.equal(res.status, 0, res.out);
    assert.match(res.out, /SUCCESS/);
    // Each alert has a case where it fires and one where it stays silent.
    const tests = (parseYaml(readFileSync(rulesTestFile, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests.flatMap((t) => t.alert_rule_test);
    for (const r of ruleExpressions()) {
      assert.ok(tests.some((t) => t.alertname === r.alert && t.exp_alerts.length > 0), `${r.alert} has no firing case`);
      assert.ok(tests.some((t) => t.alertname === r.alert && t.exp_alerts.length === 0), `${r.alert} has no silent case`);
    }
  });

  test('promtool check metrics accepts the exposition', { skip: promtool ? false : `promtool ${MISSING}` }, () => {
    const res = run(promtool!, ['check', 'metrics'], populatedMetrics().render());
    // 0 = clean, 3 = lint findings only; anything else is a parse error. The one finding allowed is the unit of
    // client_certificate_days_to_expiry, a name kept for existing dashboards (the new gauge is in seconds).
    assert.ok(res.status === 0 || res.status === 3, `promtool check metrics exit ${res.status}: ${res.out}`);
    const findings = res.out.split('\n').filter((l) => l.trim());
    assert.deepEqual(findings.filter((l) => !l.startsWith('client_certificate_days_to_expiry ')), [], res.out);
  });
});

async function promApi<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T };
  assert.equal(body.status, 'success', `${path}: ${JSON.stringify(body)}`);
  return body.data;
}

describe('a real Prometheus scraping a real metrics server', () => {
  test('loads the rules, scrapes every metric they and the dashboard name, and evaluates the alerts', { skip: prometheus ? false : `prometheus ${MISSING}`, timeout: 120_000 }, async () => {
    const metrics: RotationMetrics = populatedMetrics();
    const server = await startMetricsServer({ port: 0, metrics });
    const metricsPort = (server.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'pinrotate-prometheus-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(rulesFile)}]`,
        'scrape_configs:',
        '  - job_name: pinrotate-worker',
        `    static_configs: [{ targets: ["127.0.0.1:${metricsPort}"] }]`,
        '',
      ].join('\n'),
    );
    let log = '';
    const child = spawn(prometheus!, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const base = `http://127.0.0.1:${port}`;
    try {
      const wanted = [...referencedNames().keys()];
      let seen = new Set<string>();
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
          seen = new Set(await promApi<string[]>(base, '/api/v1/label/__name__/values'));
          return wanted.every((n) => seen.has(n));
        },
        `Prometheus to have scraped ${wanted.filter((n) => !seen.has(n)).join(', ') || 'the metrics'}`,
        60_000,
        250,
      );
      // A compensation failure after the counter's 0 was scraped, as on a worker that started before it.
      metrics.recordRotationEnd({ status: 'failed', errorCode: 'COMPENSATION_FAILED', durationMs: 1000 });
      const targets = await promApi<{ activeTargets: { health: string; scrapeUrl: string }[] }>(base, '/api/v1/targets');
      assert.deepEqual(targets.activeTargets.map((t) => t.health), ['up']);

      // Alerts evaluated on the scraped data: alpha expires in 10 days with nothing scheduled (pending: for 15m);
      // beta has waited 5 h for approval (firing); gamma is past maxOverlap (pending: for 5m); a failure was
      // recorded in the last day and a compensation failed since the first scrape (firing). beta (scheduled before expiry) and gamma (90 days left) must not be in
      // the expiry alert.
      type Alert = { labels: Record<string, string>; state: string };
      let alerts: Alert[] = [];
      const key = (a: Alert) => `${a.labels.alertname}/${a.labels.client_id ?? ''}/${a.state}`;
      const expected = ['PinnedCertificateExpiringWithoutRotation/alpha/pending', 'PinRotationApprovalWaitingTooLong/beta/firing', 'PinRotationDrainStuckAtMaxOverlap/gamma/pending', 'PinRotationFailed//firing', 'PinRotationCompensationFailed//firing'];
      await waitFor(
        async () => {
          alerts = (await promApi<{ alerts: Alert[] }>(base, '/api/v1/alerts')).alerts;
          return expected.every((e) => alerts.map(key).includes(e));
        },
        'the expected alerts',
        30_000,
        250,
      );
      const got = alerts.map(key).sort();
      assert.deepEqual(got.filter((k) => k.startsWith('PinnedCertificateExpiringWithoutRotation/')), ['PinnedCertificateExpiringWithoutRotation/alpha/pending']);
      assert.ok(!got.some((k) => k.startsWith('PinRotationInventoryStale/')), `inventory is fresh, yet: ${got.join(', ')}`);
      const rules = await promApi<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(base, '/api/v1/rules');
      const loaded = rules.groups.flatMap((g) => g.rules);
      assert.equal(loaded.length, 7);
      for (const r of loaded) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

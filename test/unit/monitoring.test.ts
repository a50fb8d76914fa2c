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
import { dashboardExpressions, dashboardFile, metricNamesIn, monitoringReferences, ruleExpressions, rulesFile, rulesTestFile, type Dashboard } from './monitoring-refs';

// dist/test/unit → repository root
const root = resolve(__dirname, '..', '..', '..');

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
// CI sets PINROTATE_REQUIRE_PROMETHEUS=1 after installing them: there a missing binary is a failure, not a skip.
const required = process.env.PINROTATE_REQUIRE_PROMETHEUS === '1';
if (!promtool) process.stderr.write(`monitoring.test: ${required ? 'failing' : 'skipping'} the promtool checks: promtool ${MISSING}\n`);
if (!prometheus) process.stderr.write(`monitoring.test: ${required ? 'failing' : 'skipping'} the real Prometheus scrape: prometheus ${MISSING}\n`);
function need(binary: string | undefined, name: string): string {
  assert.ok(binary, `${name} ${MISSING}`);
  return binary;
}
const skipUnless = (binary: string | undefined, name: string): string | false => (binary || required ? false : `${name} ${MISSING}`);

test('promtool and prometheus are installed where they are required', { skip: required ? false : 'PINROTATE_REQUIRE_PROMETHEUS is not 1' }, () => {
  assert.ok(promtool, `promtool ${MISSING}`);
  assert.ok(prometheus, `prometheus ${MISSING}`);
});

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
    const refs = monitoringReferences();
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

  test('promtool check rules', { skip: skipUnless(promtool, 'promtool') }, () => {
    const res = run(need(promtool, 'promtool'), ['check', 'rules', rulesFile]);
    process.stderr.write(res.out);
    assert.equal(res.status, 0, res.out);
    assert.match(res.out, /SUCCESS: 7 rules found/);
  });

  test('promtool test rules (each alert firing and silent)', { skip: skipUnless(promtool, 'promtool') }, () => {
    const res = run(need(promtool, 'promtool'), ['test', 'rules', rulesTestFile]);
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

  test('promtool check metrics accepts the exposition', { skip: skipUnless(promtool, 'promtool') }, () => {
    const res = run(need(promtool, 'promtool'), ['check', 'metrics'], populatedMetrics().render());
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
  test('loads the rules, scrapes every metric they and the dashboard name, and evaluates the alerts', { skip: skipUnless(prometheus, 'prometheus'), timeout: 120_000 }, async () => {
    const prometheusBin = need(prometheus, 'prometheus');
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
    const child = spawn(prometheusBin, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const base = `http://127.0.0.1:${port}`;
    try {
      const wanted = [...monitoringReferences().keys()];
      let seen = new Set<string>();
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
          seen = new Set(await promApi<string[]>(base, '/api/v1/label/__name__/values'));
          return wanted.every((n) => seen.has(n));
        },
        'Prometheus to have scraped every metric the rules and the dashboard read',
        60_000,
        250,
      );
      // What Prometheus stored is what the registry was given.
      const q = await promApi<{ result: { value: [number, string] }[] }>(base, `/api/v1/query?query=${encodeURIComponent('client_certificate_expiry_timestamp_seconds{client_id="alpha",role="primary"}')}`);
      assert.equal(q.result.length, 1);
      assert.equal(Number(q.result[0].value[1]), metrics.expiry.get({ client_id: 'alpha', role: 'primary' }));
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
      // Every dashboard query is valid PromQL that returns data, with Grafana's variables as Grafana fills them.
      const grafanaVars = (expr: string) => expr.replace(/\$__rate_interval/g, '1m').replace(/\$client/g, '.*');
      const panelQueries = dashboardExpressions().filter((d) => d.where.startsWith('panel'));
      let empty: string[] = [];
      await waitFor(
        async () => {
          empty = [];
          for (const d of panelQueries) {
            const data = await promApi<{ result: unknown[] }>(base, `/api/v1/query?query=${encodeURIComponent(grafanaVars(d.expr))}`);
            if (data.result.length === 0) empty.push(`${d.where}: ${d.expr}`);
          }
          return empty.length === 0;
        },
        'every dashboard query to return data',
        30_000,
        500,
      ).catch((err: Error) => assert.fail(`${err.message}\n${empty.join('\n')}`));
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

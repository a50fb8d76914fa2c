import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * What the shipped rules and dashboard read, for tests that check it against a real exposition (the worker's
 * here; a cluster suite can reuse it against a Prometheus scraping the cluster).
 */

// dist/test/unit → repository root
const root = resolve(__dirname, '..', '..', '..');
export const rulesFile = join(root, 'monitoring', 'prometheus', 'pinrotate-rules.yml');
export const rulesTestFile = join(root, 'monitoring', 'prometheus', 'pinrotate-rules.test.yml');
export const dashboardFile = join(root, 'monitoring', 'grafana', 'pinrotate-dashboard.json');

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

export function ruleExpressions(): { alert: string; expr: string }[] {
  const doc = parseYaml(readFileSync(rulesFile, 'utf8')) as RuleFile;
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert ?? r.record ?? '?', expr: r.expr })));
}

export interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: { id: number; type: string; title: string; gridPos: object; datasource: { type: string }; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
}

export function dashboardExpressions(): { where: string; expr: string }[] {
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
export function monitoringReferences(): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  const add = (name: string, where: string) => refs.set(name, [...(refs.get(name) ?? []), where]);
  for (const r of ruleExpressions()) for (const n of metricNamesIn(r.expr)) add(n, `rule ${r.alert}`);
  for (const d of dashboardExpressions()) for (const n of metricNamesIn(d.expr)) add(n, `dashboard ${d.where}`);
  return refs;
}


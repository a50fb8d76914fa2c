/**
 * `npm run bench`: measures the product with its real parts in one run (a Temporal dev server, the emulator,
 * workers in their own processes) and prints every number beside its target. Nothing is a constant.
 *
 *   node dist/bench/index.js [calls|ratelimited|fleet|long-overlap|pins|cluster|cpu ...] [--scenario a,b] [--quick] [--json]
 *     [--out DIR] [--cpu-prof] [--log-level warn] [--cert-source file|emulator-ca]
 *     [--sizes 100,1000] [--clients N] [--limit N] [--concurrency N] [--rotations N] [--tuning JSON]
 *     [--dynamic-config KEY=VALUE ...]   (dev server dynamic config, e.g. matching.numTaskqueueReadPartitions=1)
 *
 * Writes DIR/<scenario>-<timestamp>.json per scenario and DIR/latest.json (default DIR bench/results).
 * BENCH_WORKER_NODE_OPTIONS sets the V8 flags of the worker processes (default --max-old-space-size=256, the README's
 * production setting; empty for Node's defaults).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { installRuntime } from '../src/temporal/runtime';
import type { WorkerTuning } from '../src/worker';
import { formatTable, runPinsBench } from './pins';
import { runCalls } from './scenarios/calls';
import { runClusterScenario } from './scenarios/cluster';
import { runCpuScenario } from './scenarios/cpu';
import { runFleetScenario } from './scenarios/fleet';
import { runLongOverlap } from './scenarios/long-overlap';
import { runRateLimited } from './scenarios/ratelimited';
import type { BenchContext, ScenarioResult, Target } from './scenarios/types';
import { startTemporal, type Temporal } from './stack';

const SCENARIOS = ['calls', 'ratelimited', 'fleet', 'long-overlap', 'pins', 'cluster', 'cpu'] as const;
type Scenario = (typeof SCENARIOS)[number];

const USAGE = `usage: npm run bench -- [${SCENARIOS.join('|')} ...] [--scenario a,b] [--quick] [--json] [--out DIR] [--cpu-prof]
  [--log-level LEVEL] [--cert-source file|emulator-ca] [--sizes 100,1000] [--clients N] [--limit N] [--concurrency N]
  [--rotations N] [--tuning '{"maxCachedWorkflows":100}'] [--dynamic-config KEY=VALUE ...]
environment: BENCH_WORKER_NODE_OPTIONS (V8 flags for the worker processes; default "--max-old-space-size=256",
  the README's production setting; "" for Node's defaults)`;

class UsageError extends Error {}

function positiveInts(value: string | undefined, name: string): number[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError(`--${name} takes positive integers`);
  return list;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      scenario: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results' },
      'cpu-prof': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'warn' },
      'cert-source': { type: 'string', default: 'file' },
      sizes: { type: 'string' },
      clients: { type: 'string' },
      limit: { type: 'string' },
      concurrency: { type: 'string' },
      rotations: { type: 'string' },
      tuning: { type: 'string' },
      'dynamic-config': { type: 'string', multiple: true },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) throw new UsageError('');
  const names = [...positionals, ...(values.scenario?.split(',') ?? [])].map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !SCENARIOS.includes(n as Scenario));
  if (unknown.length) throw new UsageError(`unknown scenario ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  const certSource = values['cert-source'];
  if (certSource !== 'file' && certSource !== 'emulator-ca') throw new UsageError('--cert-source is file or emulator-ca');
  let tuning: WorkerTuning | undefined;
  try {
    tuning = values.tuning ? (JSON.parse(values.tuning) as WorkerTuning) : undefined;
  } catch {
    throw new UsageError('--tuning takes a JSON object of worker options');
  }
  const one = (v: string | undefined, name: string): number | undefined => positiveInts(v, name)?.[0];
  return {
    scenarios: (names.length ? [...new Set(names)] : [...SCENARIOS]) as Scenario[],
    quick: values.quick ?? false,
    json: values.json ?? false,
    out: resolve(values.out ?? 'bench/results'),
    cpuProf: values['cpu-prof'] ?? false,
    logLevel: values['log-level'] ?? 'warn',
    certSource: certSource as 'file' | 'emulator-ca',
    tuning,
    serverArgs: (values['dynamic-config'] ?? []).flatMap((kv) => ['--dynamic-config-value', kv]),
    overrides: {
      sizes: positiveInts(values.sizes, 'sizes'),
      clients: one(values.clients, 'clients'),
      limit: one(values.limit, 'limit'),
      concurrency: one(values.concurrency, 'concurrency'),
      rotations: one(values.rotations, 'rotations'),
    },
  };
}

async function runPins(quick: boolean): Promise<ScenarioResult> {
  const rows = await runPinsBench({ quick });
  return {
    scenario: 'pins',
    tables: [{ title: 'pins: certificates per second, ours beside node-forge and openssl (bench/pins.ts)', rows }],
    targets: [{ scenario: 'pins', target: 'every implementation agrees with ours', measured: rows.some((r) => r.agrees === 'NO' || r.agrees === 'INVALID') ? 'disagreement' : 'agree', met: !rows.some((r) => r.agrees === 'NO' || r.agrees === 'INVALID') }],
    notes: [],
    details: rows,
  };
}

/** Cells that do not apply (NaN) print as a dash. */
function dashNaN(row: Record<string, string | number>): Record<string, string | number> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'number' && Number.isNaN(v) ? '-' : v]));
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  const log = (m: string): void => void process.stderr.write(`[bench] ${m}\n`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(opts.out, { recursive: true });
  const cpuProfDir = opts.cpuProf ? join(opts.out, `cpu-prof-${stamp}`) : undefined;
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
  const host = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMb: Math.round(totalmem() / 1048576), loadavg1m: loadavg()[0], node: process.version };
  log(`scenarios ${opts.scenarios.join(', ')}${opts.quick ? ' (quick)' : ''}; ${host.cpus} CPUs, load ${host.loadavg1m.toFixed(2)}`);

  installRuntime({ logLevel: 'ERROR' });
  let temporal: Temporal | undefined;
  const results: ScenarioResult[] = [];
  const started = Date.now();
  try {
    if (opts.scenarios.some((s) => s !== 'pins')) temporal = await startTemporal(log, opts.serverArgs);
    const ctx: BenchContext = { quick: opts.quick, temporal, serverArgs: opts.serverArgs, startTemporal: (args, serverOpts) => startTemporal(log, [...opts.serverArgs, ...args], serverOpts), log, logLevel: opts.logLevel, certSource: opts.certSource, tuning: opts.tuning, cpuProfDir, overrides: opts.overrides };
    for (const scenario of opts.scenarios) {
      const t = Date.now();
      log(`--- ${scenario}`);
      const result =
        scenario === 'calls'
          ? await runCalls(ctx)
          : scenario === 'cpu'
            ? await runCpuScenario(ctx)
            : scenario === 'cluster'
              ? await runClusterScenario(ctx)
              : scenario === 'ratelimited'
                ? await runRateLimited(ctx)
                : scenario === 'fleet'
                  ? await runFleetScenario(ctx)
                  : scenario === 'long-overlap'
                    ? await runLongOverlap(ctx)
                    : await runPins(opts.quick);
      results.push(result);
      const file = join(opts.out, `${scenario}-${stamp}.json`);
      writeFileSync(file, `${JSON.stringify({ startedAt: new Date(t).toISOString(), seconds: (Date.now() - t) / 1000, quick: opts.quick, host, options: { ...opts, scenarios: undefined }, ...result }, null, 2)}\n`);
      log(`${scenario} done in ${Math.round((Date.now() - t) / 1000)} s → ${file}`);
    }
  } finally {
    await temporal?.close();
  }

  const targets: Target[] = results.flatMap((r) => r.targets);
  const latest = { startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000, quick: opts.quick, host, options: { ...opts, scenarios: opts.scenarios }, results, targets };
  writeFileSync(join(opts.out, 'latest.json'), `${JSON.stringify(latest, null, 2)}\n`);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(latest)}\n`);
  } else {
    const out: string[] = [];
    for (const r of results) {
      for (const t of r.tables) out.push(`\n${t.title}\n${formatTable(t.rows.map(dashNaN))}`);
      for (const n of r.notes) out.push(`note: ${n}\n`);
    }
    out.push(`\ntargets (${host.cpus} CPUs, load ${host.loadavg1m.toFixed(2)} at start; shared machines make these numbers noisy)\n`);
    out.push(formatTable(targets.map((t) => ({ scenario: t.scenario, target: t.target, measured: t.measured, met: t.met ? 'yes' : 'NO' }))));
    process.stdout.write(out.join(''));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message ? `${err.message}\n` : ''}${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

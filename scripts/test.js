#!/usr/bin/env node
'use strict';
// `npm test`: compile, make sure the Temporal CLI exists (built once and cached, with progress), then run the
// unit tests and the integration run (one real dev server) on node's test runner, one file at a time so the
// CPU-heavy fuzz tests never starve the integration run's timers; then the cluster suite (test/cluster: the
// native Temporal cluster on PostgreSQL, whose server and schema tool are built once and cached, with progress).
//   npm test            everything
//   npm test -- unit    unit tests only
//   npm test -- integration
//   npm test -- cluster
const { spawnSync } = require('node:child_process');
const { readdirSync, rmSync, existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const only = process.argv[2];

function step(title, cmd, args, env) {
  process.stderr.write(`\n== ${title}\n`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: env || process.env });
  if (res.status !== 0) process.exit(res.status === null ? 1 : res.status);
}

async function main() {
  rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  step('build', process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.build.json']);

  if (only && !['unit', 'integration', 'cluster'].includes(only)) {
    process.stderr.write(`npm test: unknown suite "${only}" (unit, integration or cluster)\n`);
    process.exit(2);
  }
  const files = [];
  if (only === undefined || only === 'unit') {
    const unitDir = path.join(root, 'dist', 'test', 'unit');
    for (const f of readdirSync(unitDir).sort()) if (f.endsWith('.test.js')) files.push(path.join('dist', 'test', 'unit', f));
  }
  const env = { ...process.env };
  if (only === undefined || only === 'integration') {
    const { ensureTemporalCli } = require(path.join(root, 'dist', 'src', 'temporal', 'cli-binary.js'));
    const cli = await ensureTemporalCli((m) => process.stderr.write(`[temporal-cli] ${m}\n`));
    if (cli) {
      env.TEMPORAL_CLI_PATH = cli.path;
      process.stderr.write(`[temporal-cli] using ${cli.path} (${cli.source})\n`);
    }
    const integration = path.join('dist', 'test', 'integration', 'all.test.js');
    if (existsSync(path.join(root, integration))) files.push(integration);
  }
  if (files.length > 0) step(`node --test (${files.length} files)`, process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], env);

  if (only === undefined || only === 'cluster') {
    const { ensureServerBinaries, ensureUiServerBinary } = require(path.join(root, 'dist', 'src', 'temporal', 'server-binary.js'));
    const progress = (m) => process.stderr.write(`[temporal-server] ${m}\n`);
    const server = await ensureServerBinaries(progress);
    const ui = await ensureUiServerBinary(progress);
    process.stderr.write(`[temporal-server] using ${server.server}, ${server.sqlTool}, ${ui}\n`);
    const started = Date.now();
    const clusterFiles = readdirSync(path.join(root, 'dist', 'test', 'cluster')).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join('dist', 'test', 'cluster', f));
    step(`cluster suite (${clusterFiles.length} files)`, process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...clusterFiles], process.env);
    process.stderr.write(`[cluster] suite took ${Math.round((Date.now() - started) / 1000)} s\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

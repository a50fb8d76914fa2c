#!/usr/bin/env node
'use strict';
// `npm test`: compile, make sure the Temporal CLI exists (built once and cached, with progress), then run the
// unit tests and the integration run (one real dev server) on node's test runner, one file at a time so the
// CPU-heavy fuzz tests never starve the integration run's timers.
//   npm test            everything
//   npm test -- unit    unit tests only
//   npm test -- integration
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

  const files = [];
  if (only !== 'integration') {
    const unitDir = path.join(root, 'dist', 'test', 'unit');
    for (const f of readdirSync(unitDir).sort()) if (f.endsWith('.test.js')) files.push(path.join('dist', 'test', 'unit', f));
  }
  const env = { ...process.env };
  if (only !== 'unit') {
    const { ensureTemporalCli } = require(path.join(root, 'dist', 'src', 'temporal', 'cli-binary.js'));
    const cli = await ensureTemporalCli((m) => process.stderr.write(`[temporal-cli] ${m}\n`));
    if (cli) {
      env.TEMPORAL_CLI_PATH = cli.path;
      process.stderr.write(`[temporal-cli] using ${cli.path} (${cli.source})\n`);
    }
    const integration = path.join('dist', 'test', 'integration', 'all.test.js');
    if (existsSync(path.join(root, integration))) files.push(integration);
  }
  step(`node --test (${files.length} files)`, process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], env);
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

#!/bin/sh
":" //; exec node "$0" -- "$@"
// Above: sh runs node with `--`, JavaScript sees a string. Node 20 reads `--env-file` anywhere in its argv, even
// after the script (`pinrotate worker --env-file F` was taken by node itself: rc 9 when F is missing).
'use strict';
// Thin launcher: the CLI is compiled to dist/ on `npm install` (the `prepare` script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('pinrotate: not built yet; run `npm install` (or `npm run build`) in the repository first.\n');
  process.exit(2);
}
const args = process.argv.slice(2);
if (args[0] === '--') args.shift();
require(entry).main(args).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`pinrotate: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
);

#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled to dist/ on `npm install` (the `prepare` script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('pinrotate: not built yet; run `npm install` (or `npm run build`) in the repository first.\n');
  process.exit(2);
}
require(entry).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`pinrotate: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
);

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatEnvFile, parseEnvFile, readEnvFile } from '../../src/config/env-file';

// What a shell variable can hold: any text without NUL. The characters that trip up quoting are drawn often.
const tricky = fc.constantFrom('"', "'", '\\', '\n', '\r', '\r\n', '$', '#', ' ', '\t', '=', '`', '\\n', '\\"', '\u2028', '\u00a0', 'é', '🔑', '${HOME}');
const shellValue = fc.array(fc.oneof(tricky, fc.string({ unit: 'binary' })), { maxLength: 12 }).map((parts) => parts.join('').replace(/\0/g, ''));
const key = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/);

test('env file values round-trip exactly: quotes, backslashes, newlines, $, #, spaces, unicode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'envfile-'));
  try {
    fc.assert(
      fc.property(fc.dictionary(key, shellValue, { maxKeys: 6, noNullPrototype: true }), (values) => {
        const text = formatEnvFile(values, 'written by a test\nsecond header line');
        assert.deepEqual(parseEnvFile(text), values);
        // Through the file system too (UTF-8 on disk).
        const path = join(dir, 'x.env');
        writeFileSync(path, text);
        assert.deepEqual(readEnvFile(path), values);
      }),
      { numRuns: 500 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the cases that failed before: a quote and a Windows path come back as written', () => {
  const values = { A: 'a"b', B: 'C:\\dir', C: 'line1\nline2', D: ' padded ', E: '', F: 'x#y', G: '\\n literally' };
  assert.deepEqual(parseEnvFile(formatEnvFile(values, 'h')), values);
});

test('hand-written files: single quotes are literal, an unknown escape stays, comments and export are skipped', () => {
  const parsed = parseEnvFile(`# comment\nexport A='a\\nb'\nB="c\\dd"\n  C = plain  \n`);
  assert.deepEqual(parsed, { A: 'a\\nb', B: 'c\\dd', C: 'plain' });
  assert.throws(() => parseEnvFile('not a pair'), /line 1 is not KEY=VALUE/);
});

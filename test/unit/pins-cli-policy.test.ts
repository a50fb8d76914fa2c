/**
 * `pinrotate validate` makes the rotation's checks (the worker's --min-remaining default, --client for
 * IDENTITY_MISMATCH), and `pinrotate pins` answers a certificate with an empty subject (DESIGN.md §6).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run as pins, type CommandIo } from '../../src/cli/commands/pins';
import { run as validate } from '../../src/cli/commands/validate';
import { DEFAULT_MIN_REMAINING, DEFAULT_MIN_REMAINING_MS } from '../../src/pins/policy';
import { parseDuration } from '../../src/pins/duration';
import { caSpec, DAY, ecKey, issue, leafSpec } from './pins-chain';

const NOW = Date.UTC(2026, 5, 1);
const AT = new Date(NOW).toISOString();
let dir: string;
const file: Record<string, string> = {};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pins-cli-policy-'));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const root = issue(caSpec('GenesysCloudArchitectureCA', ecKey()), NOW);
  const leafKey = ecKey();
  file.trust = write('trust.pem', root.pem);
  file.fiveDays = write('five-days.pem', issue({ ...leafSpec('client-1', leafKey, root), notAfter: new Date(NOW + 5 * DAY) }, NOW).pem);
  file.leaf = write('leaf.pem', issue({ ...leafSpec('client-1', leafKey, root), san: { dns: ['billing.example.com'] } }, NOW).pem);
  file.emptySubject = write('empty.pem', issue({ ...leafSpec('x', leafKey, root), cn: null, san: { dns: ['client-1'] } }, NOW).pem);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function capture(command: (argv: string[], io?: CommandIo) => Promise<number>, argv: string[]) {
  let stdout = '';
  const io: CommandIo = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true } };
  const code = await command(argv, io);
  return { code, body: JSON.parse(stdout) as { valid?: boolean; error?: { code: string; message: string }; errors?: unknown[]; certificates?: Array<Record<string, string>> } };
}

describe('pinrotate validate: the rotation defaults', () => {
  it('the shared default is 7 days', () => {
    assert.equal(DEFAULT_MIN_REMAINING, '7d');
    assert.equal(parseDuration(DEFAULT_MIN_REMAINING), DEFAULT_MIN_REMAINING_MS);
  });

  it('without --min-remaining a leaf with 5 days left is EXPIRES_TOO_SOON, as a rotation would say', async () => {
    const r = await capture(validate, [file.fiveDays, '--trust', file.trust, '--at', AT, '--json']);
    assert.equal(r.code, 1);
    assert.equal(r.body.error?.code, 'EXPIRES_TOO_SOON');
    assert.match(r.body.error?.message ?? '', /at least 7\.0d/);
    const relaxed = await capture(validate, [file.fiveDays, '--trust', file.trust, '--at', AT, '--min-remaining', '1d', '--json']);
    assert.equal(relaxed.code, 0);
  });
});

describe('pinrotate validate --client', () => {
  it('accepts a leaf naming the client in its CN, or --client-name in a SAN', async () => {
    assert.equal((await capture(validate, [file.leaf, '--trust', file.trust, '--at', AT, '--client', 'client-1', '--json'])).code, 0);
    const byName = ['--client', 'other-id', '--client-name', 'billing.example.com'];
    assert.equal((await capture(validate, [file.leaf, '--trust', file.trust, '--at', AT, ...byName, '--json'])).code, 0);
  });

  it('IDENTITY_MISMATCH, exit 1, in the §6 shape, when the leaf names another client', async () => {
    const r = await capture(validate, [file.leaf, '--trust', file.trust, '--at', AT, '--client', 'client-2', '--json']);
    assert.equal(r.code, 1);
    assert.deepEqual(Object.keys(r.body), ['valid', 'error', 'errors']);
    assert.equal(r.body.error?.code, 'IDENTITY_MISMATCH');
    assert.match(r.body.error?.message ?? '', /client-2/);
  });

  it('--client-name without --client, or an empty --client, is a usage error (exit 2)', async () => {
    assert.equal((await capture(validate, [file.leaf, '--trust', file.trust, '--client-name', 'x', '--json'])).code, 2);
    assert.equal((await capture(validate, [file.leaf, '--trust', file.trust, '--client', '', '--json'])).code, 2);
  });
});

describe('pinrotate pins: an empty subject', () => {
  it('prints the pins with subject "" and exits 0; validate answers it too', async () => {
    const r = await capture(pins, [file.emptySubject, '--json']);
    assert.equal(r.code, 0);
    assert.equal(r.body.certificates?.[0].subject, '');
    assert.match(r.body.certificates?.[0].sha256Spki ?? '', /^[A-Za-z0-9+/]{43}=$/);
    const v = await capture(validate, [file.emptySubject, '--trust', file.trust, '--at', AT, '--client', 'client-1', '--json']);
    assert.equal(v.code, 0, JSON.stringify(v.body));
  });
});

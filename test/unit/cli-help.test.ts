import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';

// dist/test/unit → repository root; the built CLI as a user runs it.
const root = resolve(__dirname, '..', '..', '..');
const bin = join(root, 'bin', 'pinrotate.js');

function pinrotate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: 60_000, env: { ...process.env, LOG_LEVEL: 'silent' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** The commands the global help lists (so a command added later is covered without touching this test). */
function listedCommands(help: string): string[] {
  const section = help.split('commands:\n')[1]?.split('\n\n')[0] ?? '';
  return section
    .split('\n')
    .map((l) => /^ {2}(\S+) {2,}/.exec(l)?.[1])
    .filter((c): c is string => Boolean(c));
}

describe('pinrotate help and version', () => {
  test('--version prints the version of package.json and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await pinrotate(flag);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `pinrotate ${version}\n`);
    }
  });

  test('help, --help and -h print the global help and exit 0; no command is a usage error (2)', async () => {
    const help = await pinrotate('help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: pinrotate <command>/);
    assert.equal((await pinrotate('--help')).stdout, help.stdout);
    assert.equal((await pinrotate('-h')).code, 0);
    const none = await pinrotate();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^usage: pinrotate <command>/);
  });

  test('an unknown command exits 2 naming it, as does help for one', async () => {
    for (const args of [['frobnicate'], ['help', 'frobnicate'], ['--bogus']]) {
      const r = await pinrotate(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, new RegExp(`unknown command "${args[args.length - 1]}"`));
      assert.equal(r.stdout, '');
    }
  });

  test('help rotate prints rotate\'s own help, the same as rotate --help', async () => {
    const r = await pinrotate('help', 'rotate');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: pinrotate rotate --client ID --cert FILE/);
    assert.match(r.stdout, /--overlap D/);
    assert.doesNotMatch(r.stdout, /^usage: pinrotate <command>/);
    assert.equal((await pinrotate('rotate', '--help')).stdout, r.stdout);
  });

  test('approve, rollback and finalize answer --help, -h and help <command> with their flags', async () => {
    const expected: Record<string, RegExp[]> = {
      approve: [/^usage: pinrotate approve --client ID/, /--key FILE/, /pinrotate status --client ID/],
      rollback: [/^usage: pinrotate rollback --client ID/, /--reason TEXT/, /rolled_back/],
      finalize: [/^usage: pinrotate finalize --client ID/, /fallback pin/],
    };
    for (const [command, patterns] of Object.entries(expected)) {
      const r = await pinrotate(command, '--help');
      assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
      for (const p of patterns) assert.match(r.stdout, p, command);
      assert.match(r.stdout, /--address HOST:PORT/);
      assert.equal((await pinrotate(command, '--client', 'x', '-h')).stdout, r.stdout, `${command} -h`);
      assert.equal((await pinrotate('help', command)).stdout, r.stdout, `help ${command}`);
    }
  });

  test('every listed command answers --help with its own usage and exit 0, and help <command> says the same', async () => {
    const commands = listedCommands((await pinrotate('help')).stdout);
    assert.ok(commands.length >= 14, `listed: ${commands.join(' ')}`);
    for (const command of ['rotate', 'status', 'approve', 'rollback', 'finalize', 'schedule', 'fleet', 'validate', 'pins']) assert.ok(commands.includes(command), command);
    for (const command of commands) {
      const r = await pinrotate(command, '--help');
      assert.equal(r.code, 0, `${command} --help exit ${r.code}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: pinrotate ${command}\\b`), `${command} --help prints its own usage`);
      const viaHelp = await pinrotate('help', command);
      assert.equal(viaHelp.code, 0, `help ${command}`);
      assert.equal(viaHelp.stdout, r.stdout, `help ${command}`);
    }
  });

  test('help <command> <subcommand> reaches the subcommand', async () => {
    const r = await pinrotate('help', 'schedule', 'create');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: pinrotate schedule/);
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { run as pins, type CommandIo } from '../../src/cli/commands/pins';
import { run as validate } from '../../src/cli/commands/validate';
import { createFixtures, keyMaterialLines, NO_OPENSSL, opensslPins, type Fixtures } from './pins-fixtures';

const CERT_KEYS = ['subject', 'issuer', 'serialNumber', 'notBefore', 'notAfter', 'sha256Spki', 'sha256Certificate'];
const DAY = 86_400_000;

let fx: Fixtures;
const file: Record<string, string> = {};

before(async () => {
  fx = await createFixtures();
  file.leaf = fx.write('leaf.pem', fx.leafRsa);
  file.chain = fx.write('chain.pem', `issued for tests\r\n${(fx.leafViaIntermediate + fx.intermediate.certPem).replace(/\n/g, '\r\n')}`);
  file.ca = fx.write('ca.pem', fx.ca.certPem);
  file.expired = fx.write('expired.pem', fx.expired);
  file.caLeaf = fx.write('ca-leaf.pem', fx.caLeaf);
  file.forged = fx.write('forged.pem', fx.forged);
  file.csr = fx.write('leaf.csr', fx.csr);
  file.key = fx.write('leaf.key', fx.privateKeys.pkcs1);
  file.keyAndCert = fx.write('bundle.pem', fx.leafRsa + fx.privateKeys.pkcs8);
  file.truncated = fx.write('truncated.pem', fx.leafRsa.slice(0, 300));
  file.big = fx.write('big.pem', `${fx.leafRsa}${'x'.repeat(256 * 1024)}`);
  file.huge = fx.write('huge.pem', fx.leafRsa);
  truncateSync(file.huge, 2 * 1024 * 1024 * 1024); // sparse 2 GiB: only a bounded read finishes quickly
  file.garbageTrust = fx.write('garbage-trust.pem', 'not a certificate');
});
after(() => fx?.cleanup());

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

async function capture(command: (argv: string[], io?: CommandIo) => Promise<number>, argv: string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await command(argv, io);
  return { code, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> };
}

describe('pinrotate pins', () => {
  it('--json prints the DESIGN.md §6 shape, leaf first, exit 0', async () => {
    const r = await capture(pins, [file.chain, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1, 'one JSON line');
    const body = r.json();
    assert.deepEqual(Object.keys(body), ['certificates']);
    const certs = body.certificates as Array<Record<string, string>>;
    assert.equal(certs.length, 2);
    for (const c of certs) assert.deepEqual(Object.keys(c), CERT_KEYS);
    assert.match(certs[0].subject, /^CN=leaf-via-intermediate/);
    assert.match(certs[1].subject, /^CN=Pin Tests Intermediate CA/);
    assert.match(certs[0].notAfter, /^\d{4}-\d{2}-\d{2}T/);
  });

  it('pins agree with openssl', { skip: NO_OPENSSL }, async () => {
    const certs = (await capture(pins, [file.leaf, '--json'])).json().certificates as Array<Record<string, string>>;
    assert.deepEqual({ sha256Spki: certs[0].sha256Spki, sha256Certificate: certs[0].sha256Certificate }, opensslPins(fx.leafRsa));
  });

  it('prints pins without validating: expired, CA and forged certificates still get pins', async () => {
    for (const f of [file.expired, file.caLeaf, file.forged]) assert.equal((await capture(pins, [f, '--json'])).code, 0);
  });

  it('readable text: one line per certificate with subject, notAfter and both pins', async () => {
    const r = await capture(pins, [file.chain]);
    assert.equal(r.code, 0);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    const certs = (await capture(pins, [file.chain, '--json'])).json().certificates as Array<Record<string, string>>;
    certs.forEach((c, i) => {
      for (const value of [c.subject, c.notAfter, c.sha256Spki, c.sha256Certificate]) assert.ok(lines[i].includes(value), value);
    });
  });

  it('exit 1 with {"valid":false,"error":{code,message}} when the file holds no certificate', async () => {
    const expectations: Array<[string, string]> = [
      [file.csr, 'NOT_A_CERTIFICATE'],
      [file.truncated, 'PEM_INVALID'],
      [file.key, 'PRIVATE_KEY_SUPPLIED'],
      [file.keyAndCert, 'PRIVATE_KEY_SUPPLIED'],
      [file.big, 'INPUT_TOO_LARGE'],
    ];
    for (const [f, code] of expectations) {
      const r = await capture(pins, [f, '--json']);
      assert.equal(r.code, 1, f);
      const body = r.json();
      assert.deepEqual(Object.keys(body), ['valid', 'error']);
      assert.equal(body.valid, false);
      assert.deepEqual(Object.keys(body.error as object), ['code', 'message']);
      assert.equal((body.error as { code: string }).code, code);
      const text = await capture(pins, [f]);
      assert.equal(text.code, 1);
      assert.match(text.stdout, new RegExp(code));
    }
  });

  it('never prints private key material', async () => {
    const material = keyMaterialLines([fx.privateKeys.pkcs1, fx.privateKeys.pkcs8]);
    for (const argv of [[file.key, '--json'], [file.key], [file.keyAndCert, '--json']]) {
      const r = await capture(pins, argv);
      for (const line of material) assert.ok(!r.stdout.includes(line) && !r.stderr.includes(line));
    }
  });

  it('refuses a 2 GiB file as INPUT_TOO_LARGE without reading it', async () => {
    const start = Date.now();
    const r = await capture(pins, [file.huge, '--json']);
    assert.equal(r.code, 1);
    assert.equal((r.json().error as { code: string }).code, 'INPUT_TOO_LARGE');
    assert.ok(Date.now() - start < 2000);
  });

  it('usage errors exit 2: missing FILE, unknown flag, unreadable file, a directory, two files', async () => {
    for (const argv of [[], ['--json'], [file.leaf, '--bogus'], [join(fx.dir, 'missing.pem')], [fx.dir], [file.leaf, file.ca]]) {
      const r = await capture(pins, argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.ok(r.stderr.length > 0);
    }
    const r = await capture(pins, [join(fx.dir, 'missing.pem'), '--json']);
    const body = r.json();
    assert.equal(body.valid, false);
    assert.deepEqual(Object.keys(body.error as object), ['code', 'message']);
    assert.equal((body.error as { code: string }).code, 'USAGE');
    assert.equal((await capture(pins, ['--help'])).code, 0);
  });
});

describe('pinrotate validate', () => {
  it('exit 0 with {"valid":true,"certificates":[…]} for a good chain', async () => {
    const r = await capture(validate, [file.chain, '--trust', file.ca, '--expected-issuer', fx.intermediate.cn, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const body = r.json();
    assert.deepEqual(Object.keys(body), ['valid', 'certificates']);
    assert.equal(body.valid, true);
    const certs = body.certificates as Array<Record<string, string>>;
    assert.equal(certs.length, 2);
    for (const c of certs) assert.deepEqual(Object.keys(c), CERT_KEYS);
    // Same pins as the pins command.
    const fromPins = (await capture(pins, [file.chain, '--json'])).json().certificates;
    assert.deepEqual(certs, fromPins);
  });

  it('exit 1 with error and every problem', async () => {
    const r = await capture(validate, [file.caLeaf, '--trust', file.garbageTrust, '--json']);
    assert.equal(r.code, 1);
    const body = r.json();
    assert.deepEqual(Object.keys(body), ['valid', 'error', 'errors']);
    assert.equal(body.valid, false);
    const errors = body.errors as Array<Record<string, string>>;
    assert.deepEqual(errors.map((e) => e.code), ['CERT_IS_CA', 'SIGNATURE_INVALID']);
    for (const e of errors) assert.deepEqual(Object.keys(e), ['code', 'message']);
    assert.deepEqual(body.error, errors[0]);
    assert.match(errors[1].message, /trust bundle/);
  });

  it('--at, --min-remaining and --expected-issuer change the verdict', async () => {
    const at = (ms: number) => new Date(fx.now.getTime() + ms).toISOString();
    const code = async (...extra: string[]) => {
      const r = await capture(validate, [file.leaf, '--trust', file.ca, '--json', ...extra]);
      return r.code === 0 ? 'valid' : (r.json().error as { code: string }).code;
    };
    assert.equal(await code('--at', at(0)), 'valid');
    assert.equal(await code('--at', at(100 * DAY)), 'CERT_EXPIRED');
    assert.equal(await code('--at', at(-3 * DAY)), 'CERT_NOT_YET_VALID');
    assert.equal(await code('--at', at(0), '--min-remaining', '120d'), 'EXPIRES_TOO_SOON');
    assert.equal(await code('--at', at(0), '--min-remaining', '7d'), 'valid');
    assert.equal(await code('--at', at(0), '--expected-issuer', 'Another CA'), 'ISSUER_MISMATCH');
    assert.equal(await code('--at', at(0).slice(0, 10)), 'valid');
  });

  it('every framing code is an exit-1 result, including INPUT_TOO_LARGE for a 2 GiB file', async () => {
    const expectations: Array<[string, string]> = [
      [file.csr, 'NOT_A_CERTIFICATE'],
      [file.truncated, 'PEM_INVALID'],
      [file.key, 'PRIVATE_KEY_SUPPLIED'],
      [file.big, 'INPUT_TOO_LARGE'],
      [file.huge, 'INPUT_TOO_LARGE'],
      [file.forged, 'SIGNATURE_INVALID'],
      [file.expired, 'CERT_EXPIRED'],
    ];
    for (const [f, code] of expectations) {
      const r = await capture(validate, [f, '--trust', file.ca, '--json']);
      assert.equal(r.code, 1, f);
      const body = r.json();
      assert.equal((body.error as { code: string }).code, code);
      assert.deepEqual(Object.keys(body), ['valid', 'error', 'errors']);
    }
  });

  it('readable text: headline and every problem on failure, certificates on success', async () => {
    const bad = await capture(validate, [file.caLeaf, '--trust', file.garbageTrust]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^invalid: CERT_IS_CA: /);
    assert.match(bad.stdout, /\n {2}- CERT_IS_CA: /);
    assert.match(bad.stdout, /\n {2}- SIGNATURE_INVALID: /);
    const good = await capture(validate, [file.leaf, '--trust', file.ca]);
    assert.equal(good.code, 0);
    assert.match(good.stdout, /^valid: 1 certificate/);
    assert.match(good.stdout, /CN=leaf-rsa/);
  });

  it('usage errors exit 2, with a USAGE JSON line under --json', async () => {
    const cases = [
      [file.leaf],
      ['--trust', file.ca],
      [file.leaf, '--trust'],
      [file.leaf, '--trust', file.ca, '--at', 'yesterday'],
      [file.leaf, '--trust', file.ca, '--at', '2026-13-45'],
      [file.leaf, '--trust', file.ca, '--min-remaining', '7 days'],
      [file.leaf, '--trust', file.ca, '--min-remaining', '-1d'],
      [file.leaf, '--trust', join(fx.dir, 'nope.pem')],
      [join(fx.dir, 'nope.pem'), '--trust', file.ca],
      [file.leaf, '--trust', file.ca, '--unknown'],
      [file.leaf, file.ca, '--trust', file.ca],
      [file.leaf, '--trust', file.ca, '--expected-issuer', ''],
    ];
    for (const argv of cases) {
      const r = await capture(validate, [...argv, '--json']);
      assert.equal(r.code, 2, argv.join(' '));
      assert.ok(r.stderr.length > 0);
      const body = r.json();
      assert.equal(body.valid, false);
      assert.equal((body.error as { code: string }).code, 'USAGE');
      const plain = await capture(validate, argv);
      assert.equal(plain.code, 2);
      assert.equal(plain.stdout, '');
    }
    assert.equal((await capture(validate, ['-h'])).code, 0);
  });

  it('writes to the real stdout and exit code when run as a process', async () => {
    const modulePath = join(__dirname, '..', '..', 'src', 'cli', 'commands', 'validate.js');
    const script = `require(${JSON.stringify(modulePath)}).run(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, file.leaf, '--trust', file.ca, '--json']);
    assert.equal(JSON.parse(stdout).valid, true);
    await assert.rejects(promisify(execFile)(process.execPath, ['-e', script, file.forged, '--trust', file.ca, '--json']), (err: { code?: number; stdout?: string }) => {
      assert.equal(err.code, 1);
      assert.equal(JSON.parse(err.stdout ?? '').error.code, 'SIGNATURE_INVALID');
      return true;
    });
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { freePort } from '../../src/temporal/net';
import { printResult } from '../../src/cli/output';
import { rotationSummary } from '../../src/contract';

// dist/test/unit → repository root; the built CLI as a user runs it.
const root = resolve(__dirname, '..', '..', '..');
const bin = join(root, 'bin', 'pinrotate.js');

/** Runs the CLI with exactly `env` (plus PATH): no TEMPORAL_* or worker variables leak in from the caller. */
function pinrotate(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((done) => {
    // The bin itself (its shebang), as a user runs it: `node bin/pinrotate.js` would hand --env-file to node 20.
    execFile(bin, args, { cwd: root, timeout: 60_000, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('CLI errors name what is wrong', () => {
  test('a wrong --address fails within 3 s naming the address and the reason', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    for (const args of [['status', '--client', 'c1'], ['rollback', '--client', 'c1']]) {
      const r = await pinrotate({}, ...args, '--address', address);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot reach Temporal at ${address.replace(/\./g, '\\.')} \\(connection refused\\)`));
      assert.ok(r.ms < 3000, `${args[0]} took ${r.ms} ms`);
    }
  });

  test('an address that accepts TCP but never answers gRPC fails with the address named, not after 10 s', async () => {
    // A listener that accepts and says nothing: the probe passes, the gRPC connect deadline (5 s) decides.
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await pinrotate({}, 'status', '--client', 'c1', '--address', `127.0.0.1:${port}`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${port} \\(`));
      assert.ok(r.ms < 9000, `took ${r.ms} ms`);
    } finally {
      server.close();
    }
  });

  test('worker --env-file on a missing file exits 2 naming the file', async () => {
    const r = await pinrotate({}, 'worker', '--env-file', '/nonexistent/worker.env');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^pinrotate worker: cannot read env file \/nonexistent\/worker\.env: /);
  });

  test('a missing variable is named with what to set, not zod\'s "expected string, received undefined"', async () => {
    const r = await pinrotate({}, 'worker');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /GENESYS_CLIENT_ID: not set \(required\)/);
    assert.match(r.stderr, /GENESYS_CLIENT_SECRET: not set \(set GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_FILE\)/);
    assert.doesNotMatch(r.stderr, /received undefined/);
  });
});

describe('output', () => {
  test('the error headline is not repeated as the first bullet; other problems are listed', () => {
    let out = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      out += chunk;
      return true;
    }) as typeof process.stdout.write;
    try {
      printResult(
        {
          workflowId: 'pin-rotation-c1',
          status: 'refused',
          clientId: 'c1',
          pins: [],
          pinMatchRate: null,
          latencyMs: null,
          serviceId: 'c1',
          phase: 'preflight',
          error: {
            code: 'CERT_EXPIRED',
            message: 'the leaf expired at 2020-01-01',
            problems: [
              { code: 'CERT_EXPIRED', message: 'the leaf expired at 2020-01-01' },
              { code: 'KEY_TOO_WEAK', message: 'RSA 1024 bits' },
            ],
          },
        },
        false,
      );
    } finally {
      process.stdout.write = write;
    }
    assert.equal(out.split('the leaf expired').length - 1, 1, out);
    assert.match(out, /\n {2}- KEY_TOO_WEAK: RSA 1024 bits\n/);
  });

  test('rotationSummary: one line naming client, overlap, approval and origin; hostile text cannot add lines', () => {
    const s = rotationSummary({ clientId: 'c1', overlap: '2h', approval: { required: true, timeout: '4h' } }, { by: 'fleet', fleetId: 'f1' });
    assert.equal(s.staticSummary, 'Pin rotation of c1 · overlap 2h · approval required · fleet f1');
    assert.match(s.staticDetails, /\| approval \| required, within 4h \|/);
    const hostile = rotationSummary({ clientId: 'c2', serviceId: 'svc\n| injected | row |\u001b[31m' }, { by: 'schedule', scheduleId: 'pin-rotation-schedule-c2', reason: 'x'.repeat(500) });
    assert.ok(!hostile.staticSummary.includes('\n'));
    assert.ok(hostile.staticSummary.length < 200, hostile.staticSummary);
    assert.doesNotMatch(hostile.staticDetails, /injected \| row/);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(hostile.staticDetails, /\x1b/);
  });
});

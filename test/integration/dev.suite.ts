import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { EmulatorAdmin } from '../../src/emulator/admin-client';
import { freePort, waitFor } from '../../src/temporal/net';
import { harness, issue, seedClient } from './harness';
import { recordedWorkflowIds } from './saga.suite';

// The CLI as an operator runs it: the built launcher, its own process, real exit.
const root = resolve(__dirname, '..', '..', '..');
const bin = join(root, 'bin', 'pinrotate.js');

interface Timed {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms from spawn to the first stdout byte, and to exit. */
  printedAt: number;
  exitedAt: number;
}

function runTimed(args: string[], env: Record<string, string> = {}): Promise<Timed> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(bin, args, { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let printedAt = -1;
    child.stdout.on('data', (d: Buffer) => {
      if (printedAt < 0) printedAt = Date.now() - started;
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', fail);
    child.on('exit', (code) => {
      clearTimeout(killer);
      done({ code, stdout, stderr, printedAt, exitedAt: Date.now() - started });
    });
  });
}

/** `pinrotate dev` on free ports in `dataDir`; resolves once it printed its endpoints. */
async function startDev(dataDir: string, ports: Record<string, number>): Promise<{ child: ChildProcess; out: () => string; stop: () => Promise<void> }> {
  const args = ['dev', '--data-dir', dataDir, '--json', '--metrics-port', '0'];
  for (const [flag, port] of Object.entries(ports)) args.push(`--${flag}`, String(port));
  const child = spawn(bin, args, { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent', EMULATOR_ADMIN_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`pinrotate dev exited ${child.exitCode}: ${err}`);
    return out.includes('\n');
  }, 'pinrotate dev to come up', 180_000, 200);
  return {
    child,
    out: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

export function devSuite(): void {
  test('rotate --wait with an overlap exits as soon as it has printed its answer (within 3 s)', { timeout: 120_000 }, async () => {
    const h = harness();
    const id = 'cli-wait-exit';
    await seedClient(id);
    const next = await issue(id);
    const dir = mkdtempSync(join(tmpdir(), 'pinrotate-wait-'));
    const certPath = join(dir, 'new.pem');
    writeFileSync(certPath, next.certificatePem);
    const r = await runTimed(['rotate', '--client', id, '--cert', certPath, '--overlap', '1h', '--wait', '--json', '--address', h.env.address, '--task-queue', h.taskQueue]);
    recordedWorkflowIds.push(`pin-rotation-${id}`);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { status: string; pins: Array<{ role: string; sha256Spki: string }> };
    assert.equal(result.status, 'rotated');
    assert.equal(result.pins.find((p) => p.role === 'primary')?.sha256Spki, next.info.sha256Spki);
    const lingered = r.exitedAt - r.printedAt;
    process.stderr.write(`[dev.suite] rotate --wait printed at ${r.printedAt} ms, exited at ${r.exitedAt} ms (${lingered} ms after printing)\n`);
    assert.ok(lingered < 3000, `exited ${lingered} ms after printing`);
    // The overlap keeps running on the server: the client left, the rotation did not.
    assert.equal((await h.client.workflow.getHandle(`pin-rotation-${id}`).describe()).status.name, 'RUNNING');
  });

  test('pinrotate dev restarted on its data directory resumes a running rotation: same CA, clients and admin token', { timeout: 600_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pinrotate-dev-'));
    const ports = {
      'temporal-port': await freePort(),
      'ui-port': await freePort(),
      'http-port': await freePort(),
      'emulator-port': await freePort(),
      'mtls-port': await freePort(),
    };
    let dev = await startDev(dataDir, ports);
    try {
      const first = JSON.parse(dev.out().trim()) as { temporalAddress: string; emulatorUrl: string; emulatorAdminTokenFile: string };
      const tokenPath = first.emulatorAdminTokenFile;
      assert.equal(statSync(tokenPath).mode & 0o777, 0o600);
      assert.doesNotMatch(dev.out(), new RegExp(readFileSync(tokenPath, 'utf8').trim()), 'the admin token is not printed');
      const token = readFileSync(tokenPath, 'utf8').trim();
      for (const f of ['worker.env', 'temporal.sqlite', join('emulator', 'emulator-state.json')]) assert.equal(statSync(join(dataDir, f)).mode & 0o777, 0o600, f);
      let admin = new EmulatorAdmin(first.emulatorUrl, token);
      const id = 'dev-restart';
      const current = await admin.issueCertificate({ commonName: id, days: 30 });
      await admin.createClient({ id, name: id, secret: 'dev-restart-secret-0123', mtlsRequired: true, certificateChain: current.certificatePem });
      const next = await admin.issueCertificate({ commonName: id, days: 90 });
      const certPath = join(dataDir, 'new.pem');
      writeFileSync(certPath, next.certificatePem);
      const rotated = await runTimed(['rotate', '--client', id, '--cert', certPath, '--overlap', '1h', '--wait', '--json', '--address', first.temporalAddress]);
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.equal((JSON.parse(rotated.stdout) as { status: string }).status, 'rotated');

      await dev.stop();
      dev = await startDev(dataDir, ports);
      const second = JSON.parse(dev.out().trim()) as { temporalAddress: string; emulatorUrl: string; emulatorAdminTokenFile: string };
      assert.equal(readFileSync(second.emulatorAdminTokenFile, 'utf8').trim(), token, 'same admin token');
      assert.equal(second.emulatorUrl, first.emulatorUrl, 'same emulator port');
      admin = new EmulatorAdmin(second.emulatorUrl, token);
      // The client and its rotated pins survived; the rotation is still in its overlap and can be finalized.
      const before = await admin.getClient(id);
      assert.deepEqual(before.pins.map((p) => p.role), ['primary', 'fallback']);

      const fin = await runTimed(['finalize', '--client', id, '--address', second.temporalAddress]);
      assert.equal(fin.code, 0, fin.stderr);
      let last = '';
      await waitFor(async () => {
        const s = await runTimed(['status', '--client', id, '--json', '--address', second.temporalAddress]);
        last = s.stdout;
        return (JSON.parse(s.stdout) as { status: string }).status === 'finalized';
      }, `the rotation to finalize (last status ${last})`, 60_000, 500);
      const after = await admin.getClient(id);
      assert.deepEqual(
        after.pins.map((p) => [p.role, p.sha256Certificate]),
        [['primary', before.pins.find((p) => p.role === 'primary')?.sha256Certificate]],
      );
    } finally {
      await dev.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

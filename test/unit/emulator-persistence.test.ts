import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { PkiWebhookClient } from '../../src/activities/pki';
import { run } from '../../src/cli/commands/emulator';
import { EmulatorAdmin, startEmulator } from '../../src/emulator';
import { STATE_FILE } from '../../src/emulator/persistence';
import { describeCertificate, pinFromInfo } from '../../src/pins/digest';

function capture(): { write(chunk: string): boolean; text(): string } {
  let text = '';
  return {
    write(chunk: string) {
      text += chunk;
      return true;
    },
    text: () => text,
  };
}

async function firstLine(sink: { text(): string }): Promise<string> {
  for (let i = 0; i < 400; i += 1) {
    const text = sink.text();
    if (text.includes('\n')) return text.slice(0, text.indexOf('\n'));
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no output from pinrotate emulator');
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emu-state-'));
  dirs.push(dir);
  return dir;
}

describe('emulator data directory', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('resumes after a restart: same CA, clients with versions, tokens, ports, issued keys and processed webhooks', async () => {
    const dataDir = join(tempDir(), 'emulator');
    const first = await startEmulator({ dataDir, rateLimitPerMinute: 0 });
    const admin1 = new EmulatorAdmin(first.url, first.adminToken);
    const [a, b] = await Promise.all(['keep-1', 'keep-1'].map((commonName) => admin1.issueCertificate({ commonName })));
    await admin1.createClient({ id: 'worker', name: 'w', secret: 'ws', mtlsRequired: false });
    await admin1.createClient({ id: 'keep-1', name: 'keep-1', secret: 's', mtlsRequired: true, certificateChain: a.certificatePem });
    const login = await fetch(`${first.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('worker:ws').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const token = ((await login.json()) as { access_token: string }).access_token;
    const pinB = pinFromInfo(describeCertificate(new X509Certificate(b.certificatePem)), 'primary');
    const pinA = pinFromInfo(describeCertificate(new X509Certificate(a.certificatePem)), 'fallback');
    const patched = await fetch(`${first.url}/api/v2/oauth/clients/keep-1`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, certificateChain: b.certificatePem, pins: [pinB, pinA] }),
    });
    assert.equal(patched.status, 200);
    const body = { event: 'certificate_rotation' as const, clientId: 'keep-1', serviceId: 's', pins: [pinB, pinA], workflowId: 'pin-rotation-keep-1', runId: 'r1', latencyMs: 1, occurredAt: new Date().toISOString() };
    await new PkiWebhookClient({ url: first.pkiWebhookUrl, token: first.pkiToken, secret: first.pkiSecret }).notify(body);
    const before = await admin1.getClient('keep-1');
    await first.close();

    // Secrets on disk: owner-only.
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, STATE_FILE)).mode & 0o777, 0o600);

    const second = await startEmulator({ dataDir, rateLimitPerMinute: 0 });
    try {
      assert.equal(second.caCertificatePem, first.caCertificatePem);
      assert.equal(second.adminToken, first.adminToken);
      assert.equal(second.pkiToken, first.pkiToken);
      assert.equal(second.pkiSecret, first.pkiSecret);
      assert.equal(second.port, first.port);
      assert.equal(second.mtlsPort, first.mtlsPort);
      const admin2 = new EmulatorAdmin(second.url, second.adminToken);
      const after = await admin2.getClient('keep-1');
      assert.deepEqual(after, before);
      assert.equal(after.version, 2);
      assert.deepEqual(after.versions.map((v) => v.version), [1, 2]);
      // The worker logs in again with the same secret (access tokens are not kept).
      const relogin = await fetch(`${second.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('worker:ws').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      assert.equal(relogin.status, 200);
      // The key of a certificate issued before the restart is still known: a field client can present it.
      const field = await admin2.startFieldClient({ clientId: 'keep-1', handshakesPerSecond: 10 });
      assert.equal(field.certificate.sha256Spki, pinB.sha256Spki);
      // A webhook processed before the restart is still a duplicate after it.
      await new PkiWebhookClient({ url: second.pkiWebhookUrl, token: second.pkiToken, secret: second.pkiSecret }).notify(body);
      const last = (await admin2.webhooks()).deliveries.at(-1);
      assert.equal(last?.duplicate, true);
    } finally {
      await second.close();
    }
    // Keys and secrets are in the file, never in anything a GET serves.
    const state = readFileSync(join(dataDir, STATE_FILE), 'utf8');
    assert.match(state, /PRIVATE KEY/);
  });

  it('explicit options win over the saved ones; a broken state file is named, not overwritten', async () => {
    const dataDir = tempDir();
    const first = await startEmulator({ dataDir });
    await first.close();
    const second = await startEmulator({ dataDir, adminToken: 'explicit-admin', port: 0, mtlsPort: 0 });
    assert.equal(second.adminToken, 'explicit-admin');
    await second.close();
    writeFileSync(join(dataDir, STATE_FILE), '{"format":1,', { mode: 0o600 });
    await assert.rejects(startEmulator({ dataDir }), new RegExp(`${STATE_FILE} is not valid JSON`));
    assert.equal(readFileSync(join(dataDir, STATE_FILE), 'utf8'), '{"format":1,');
    const notDir = join(dataDir, 'file');
    writeFileSync(notDir, 'x');
    await assert.rejects(startEmulator({ dataDir: notDir }), /not a directory/);
  });
});

describe('pinrotate emulator secrets', () => {
  it('refuses secrets on the command line, pointing to the environment or a file', async () => {
    for (const [flag, variable] of [['--pki-token', 'PKI_WEBHOOK_TOKEN'], ['--pki-secret', 'PKI_WEBHOOK_SECRET'], ['--admin-token', 'EMULATOR_ADMIN_TOKEN']]) {
      const stderr = capture();
      assert.equal(await run([flag, 'hunter2'], { stderr, stdout: capture(), env: {} }), 2);
      assert.match(stderr.text(), new RegExp(`${flag} is not accepted.*${variable} or ${variable}_FILE`));
    }
  });

  it('reads secrets from files (or the environment) and keeps state in --data-dir', async () => {
    process.env.LOG_LEVEL = 'silent';
    const dir = tempDir();
    const secretFile = join(dir, 'pki-secret');
    writeFileSync(secretFile, 'from-a-file\n', { mode: 0o600 });
    const env = { PKI_WEBHOOK_TOKEN: 'from-env', PKI_WEBHOOK_SECRET_FILE: secretFile, EMULATOR_ADMIN_TOKEN_FILE: secretFile };
    const stdout = capture();
    const stop = new AbortController();
    const dataDir = join(dir, 'state');
    const exit = run(['--port', '0', '--mtls-port', '0', '--data-dir', dataDir, '--json'], { stdout, stop: stop.signal, env });
    const info = JSON.parse(await firstLine(stdout)) as Record<string, string>;
    assert.equal(info.pkiToken, 'from-env');
    assert.equal(info.pkiSecret, 'from-a-file');
    assert.equal(info.adminToken, 'from-a-file');
    assert.equal(info.dataDir, dataDir);
    stop.abort();
    assert.equal(await exit, 0);
    assert.equal(statSync(join(dataDir, STATE_FILE)).mode & 0o777, 0o600);

    const bad: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ PKI_WEBHOOK_TOKEN: 'a', PKI_WEBHOOK_TOKEN_FILE: secretFile }, /PKI_WEBHOOK_TOKEN or PKI_WEBHOOK_TOKEN_FILE, not both/],
      [{ PKI_WEBHOOK_SECRET_FILE: join(dir, 'missing') }, /PKI_WEBHOOK_SECRET_FILE .*missing cannot be opened \(ENOENT/],
      [{ EMULATOR_ADMIN_TOKEN_FILE: dir }, /EMULATOR_ADMIN_TOKEN_FILE .* is not a regular file/],
      [{ PKI_WEBHOOK_TOKEN: '' }, /PKI_WEBHOOK_TOKEN is set but empty/],
    ];
    for (const [badEnv, message] of bad) {
      const stderr = capture();
      assert.equal(await run(['--port', '0', '--mtls-port', '0'], { stderr, stdout: capture(), env: badEnv }), 2);
      assert.match(stderr.text(), message);
    }
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from '@temporalio/client';
import { AesGcmCodec, ENCRYPTED_ENCODING } from '../../src/codec/aes-gcm';
import { run as rotateCommand } from '../../src/cli/commands/rotate';
import { startRotation } from '../../src/starter';
import { FAST_RETRY, captureCli, capturedLogs, harness, issue, issuedPrivateKeys, runSecrets, seedClient, startOwnedWorker } from './harness';

const T = { timeout: 180_000 };

/** The lines of a PEM private key that identify it (its first base64 lines). */
function keyFingerprints(pem: string): string[] {
  return pem
    .split(/\r?\n/)
    .filter((l) => l && !l.startsWith('-----'))
    .slice(0, 2);
}

export function securitySuite(): void {
  test('with PAYLOAD_CODEC_KEY, workflow payloads are stored encrypted and read back by a client holding the key', T, async () => {
    const h = harness();
    const codec = new AesGcmCodec(randomBytes(32), 'test-key');
    const taskQueue = `${h.taskQueue}-enc`;
    const owned = await startOwnedWorker({
      config: { ...h.config, codec, env: { ...h.config.env, TEMPORAL_TASK_QUEUE: taskQueue } },
      connection: h.env.nativeConnection,
      workflowBundle: h.bundle,
      logger: h.logger,
    });
    try {
      const id = 'encrypted-1';
      await seedClient(id);
      const next = await issue(id);
      const encClient = new Client({ connection: h.env.connection, dataConverter: { payloadCodecs: [codec] } });
      const handle = await startRotation(encClient, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, taskQueue);
      const result = await handle.result();
      assert.equal(result.status, 'finalized');
      // Seen without the key (as Temporal's database and UI see it): ciphertext only.
      const history = await h.client.workflow.getHandle(handle.workflowId).fetchHistory();
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      assert.equal(Buffer.from(started?.metadata?.encoding ?? new Uint8Array()).toString(), ENCRYPTED_ENCODING);
      const raw = JSON.stringify(history);
      assert.ok(!raw.includes(Buffer.from('BEGIN CERTIFICATE').toString('base64').slice(0, 16)), 'no base64 of the PEM text in history');
      assert.ok(!Buffer.from(started?.data ?? new Uint8Array()).toString('latin1').includes(id), 'the input is not readable without the key');
      const after = await h.admin.getClient(id);
      assert.equal(after.pins[0].sha256Spki, next.info.sha256Spki);
    } finally {
      await owned.stop();
    }
  });

  test('with PAYLOAD_CODEC_KEY, a start under another key, another key id or no encryption runs nothing: no activity, the client untouched', T, async () => {
    const h = harness();
    const codec = new AesGcmCodec(randomBytes(32), 'test-key');
    const taskQueue = `${h.taskQueue}-enc-hostile`;
    const owned = await startOwnedWorker({
      config: { ...h.config, codec, env: { ...h.config.env, TEMPORAL_TASK_QUEUE: taskQueue } },
      connection: h.env.nativeConnection,
      workflowBundle: h.bundle,
      logger: h.logger,
    });
    // Someone with namespace access but not the worker's key: each way they can encode a start request.
    const attackers: Array<{ what: string; client: Client; refusal: RegExp }> = [
      { what: 'another key under the same id', client: new Client({ connection: h.env.connection, dataConverter: { payloadCodecs: [new AesGcmCodec(randomBytes(32), 'test-key')] } }), refusal: /does not authenticate/ },
      { what: 'another key id', client: new Client({ connection: h.env.connection, dataConverter: { payloadCodecs: [new AesGcmCodec(randomBytes(32), 'attacker')] } }), refusal: /encrypted with key "attacker"/ },
      { what: 'no encryption', client: h.client, refusal: /unencrypted payload refused/ },
    ];
    try {
      for (const [i, attacker] of attackers.entries()) {
        const id = `enc-hostile-${i}`;
        await seedClient(id);
        const before = await h.admin.getClient(id);
        const next = await issue(id);
        const handle = await startRotation(attacker.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, taskQueue);
        let failure: string | undefined;
        let events: Array<{ eventType?: unknown; workflowTaskFailedEventAttributes?: { failure?: { message?: string | null } | null } | null; activityTaskScheduledEventAttributes?: unknown; markerRecordedEventAttributes?: unknown }> = [];
        for (let t = 0; t < 120 && failure === undefined; t++) {
          events = (await h.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory()).events ?? [];
          failure = events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
          if (failure === undefined) await new Promise((r) => setTimeout(r, 250));
        }
        assert.ok(failure !== undefined, `${attacker.what}: the worker refused the workflow task`);
        assert.match(failure, attacker.refusal, attacker.what);
        // No activity task and no local activity (a marker) ever came of it.
        assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes).length, 0, `${attacker.what}: nothing was scheduled`);
        assert.ok(events.length >= 3, `${attacker.what}: started, task scheduled and started, task failed (${events.length} events)`);
        const after = await h.admin.getClient(id);
        assert.equal(after.version, before.version, `${attacker.what}: nothing written to the platform`);
        assert.deepEqual(after.pins, before.pins);
        await handle.terminate('security suite: undecodable start');
      }
    } finally {
      await owned.stop();
    }
  });

  test('no secret or private key appears in logs, any workflow history, the audit file or CLI error output', T, async () => {
    const h = harness();
    // An operator mistake on purpose: a PEM with the key in it, through the CLI.
    const cert = await issue('secrets-cli');
    const withKey = join(h.dir, 'with-key.pem');
    writeFileSync(withKey, cert.certificatePem + cert.privateKeyPem);
    const cli = await captureCli(() => rotateCommand(['--client', 'secrets-cli', '--cert', withKey, '--json', '--address', h.env.address, '--task-queue', h.taskQueue]));
    assert.equal(cli.code, 1);
    assert.match(cli.out, /PRIVATE_KEY_SUPPLIED/);

    const haystacks: Record<string, string> = {
      logs: capturedLogs.join(''),
      audit: existsSync(h.auditPath) ? readFileSync(h.auditPath, 'utf8') : '',
      cliOutput: cli.out,
    };
    // Every workflow the run produced, fetched from the server.
    const histories: string[] = [];
    for await (const wf of h.client.workflow.list()) {
      histories.push(JSON.stringify(await h.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory()));
    }
    assert.ok(histories.length >= 20, `scanned ${histories.length} histories`);
    haystacks.histories = histories.join('\n');
    assert.ok(haystacks.logs.length > 1000, 'logs were captured');
    assert.ok(haystacks.audit.length > 0, 'the audit file was written');

    const needles: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(runSecrets)) needles.push([name, value]);
    issuedPrivateKeys.forEach((pem, i) => keyFingerprints(pem).forEach((line) => needles.push([`private key #${i}`, line])));
    needles.push(['a PEM private key header', 'PRIVATE KEY-----']);
    assert.ok(issuedPrivateKeys.length >= 20, `checked ${issuedPrivateKeys.length} private keys`);

    const found: string[] = [];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [what, needle] of needles) if (needle && text.includes(needle)) found.push(`${what} in ${where}`);
    }
    assert.deepEqual(found, []);
  });
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run } from '../../src/cli/commands/emulator';
import { EmulatorAdmin, startEmulator } from '../../src/emulator';
import { isLoopback } from '../../src/emulator/http-util';

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

/** Resolves once `sink` has a full line. */
async function firstLine(sink: { text(): string }): Promise<string> {
  for (let i = 0; i < 200; i += 1) {
    const text = sink.text();
    if (text.includes('\n')) return text.slice(0, text.indexOf('\n'));
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no output from pinrotate emulator');
}

describe('pinrotate emulator', () => {
  it('exits 2 on usage errors', async () => {
    for (const argv of [['--port', 'abc'], ['--bogus'], ['--rate-limit', '-1'], ['extra'], ['--data-dir', '']]) {
      const stderr = capture();
      assert.equal(await run(argv, { stderr, stdout: capture() }), 2, argv.join(' '));
      assert.match(stderr.text(), /usage: pinrotate emulator/);
    }
  });

  it('prints one JSON line, serves until stopped, and exits 0', async () => {
    process.env.LOG_LEVEL = 'silent';
    const stdout = capture();
    const stop = new AbortController();
    const env = { PKI_WEBHOOK_TOKEN: 'T', PKI_WEBHOOK_SECRET: 'S' };
    const exit = run(['--port', '0', '--mtls-port', '0', '--rate-limit', '5', '--json'], { stdout, stop: stop.signal, env });
    const info = JSON.parse(await firstLine(stdout)) as Record<string, string>;
    assert.deepEqual(Object.keys(info).sort(), ['adminToken', 'caCertificatePem', 'mtlsUrl', 'pkiSecret', 'pkiToken', 'pkiWebhookUrl', 'url']);
    assert.equal(info.pkiToken, 'T');
    assert.equal(info.pkiWebhookUrl, `${info.url}/pki/webhook`);
    assert.match(info.mtlsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(info.caCertificatePem, /BEGIN CERTIFICATE/);
    assert.deepEqual(await new EmulatorAdmin(info.url, info.adminToken).listClients(), []);
    stop.abort();
    assert.equal(await exit, 0);
    await assert.rejects(fetch(`${info.url}/__admin/stats`), TypeError, 'closed after stop');
  });

  it('exits 1 with a readable message when the port is taken', async () => {
    process.env.LOG_LEVEL = 'silent';
    const busy = await startEmulator();
    try {
      const stderr = capture();
      assert.equal(await run(['--port', String(busy.port), '--mtls-port', '0'], { stderr, stdout: capture() }), 1);
      assert.match(stderr.text(), /EADDRINUSE.*--port/);
    } finally {
      await busy.close();
    }
  });

  it('treats only loopback addresses as local', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of [undefined, '', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', '::2', '1127.0.0.1']) assert.equal(isLoopback(a), false, String(a));
  });
});

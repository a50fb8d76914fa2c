import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { checkWebhookUrl, idempotencyKey, isLoopbackHost, PkiFailureType, PkiWebhookClient, signDelivery, type PkiEventBody } from '../../src/activities/pki';
import { EmulatorAdmin, startEmulator, type EmulatorHandle } from '../../src/emulator';

interface Seen {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A plain HTTP server on loopback that records what it receives and answers with `answer`. */
async function recorder(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function event(overrides: Partial<PkiEventBody> = {}): PkiEventBody {
  return {
    event: 'certificate_rotation',
    clientId: 'payments',
    serviceId: 'svc',
    pins: [],
    workflowId: 'pin-rotation-payments',
    runId: 'run-1',
    latencyMs: 12,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

/** The failure `notify` threw, for asserting its type and retry class. */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected notify to fail');
}

describe('PKI webhook sender', () => {
  let emu: EmulatorHandle;
  let admin: EmulatorAdmin;

  before(async () => {
    emu = await startEmulator({ rateLimitPerMinute: 0 });
    admin = new EmulatorAdmin(emu.url, emu.adminToken);
  });
  after(() => emu.close());

  it('is accepted by the receiver: key with the run, signed timestamp; a retry is a duplicate, the next run is not', async () => {
    const client = new PkiWebhookClient({ url: emu.pkiWebhookUrl, token: emu.pkiToken, secret: emu.pkiSecret });
    const body = event();
    assert.deepEqual(await client.notify(body), { status: 200 });
    assert.deepEqual(await client.notify(body), { status: 200 });
    assert.deepEqual(await client.notify({ ...body, runId: 'run-2' }), { status: 200 });
    const mine = (await admin.webhooks()).deliveries.filter((d) => d.idempotencyKey?.startsWith('pin-rotation-payments:'));
    assert.deepEqual(
      mine.map((d) => [d.idempotencyKey, d.status, d.duplicate, d.signatureValid]),
      [
        ['pin-rotation-payments:run-1:certificate_rotation', 200, false, true],
        ['pin-rotation-payments:run-1:certificate_rotation', 200, true, true],
        ['pin-rotation-payments:run-2:certificate_rotation', 200, false, true],
      ],
    );
    assert.equal((await admin.stats()).webhooks.processed.certificate_rotation, 2);
  });

  it('signs "<ts>.<key>.<body>" and keeps key and timestamp across retries', async () => {
    const rec = await recorder((_req, res) => res.writeHead(503).end());
    try {
      const secret = 'sender-secret';
      const client = new PkiWebhookClient({ url: `${rec.url}/hook`, token: 'tok', secret });
      const body = event({ occurredAt: '2026-11-30T10:00:00.500Z' });
      for (let i = 0; i < 2; i += 1) {
        const failure = await failureOf(client.notify(body));
        assert.equal(failure.type, PkiFailureType.Unavailable);
        assert.equal(failure.nonRetryable, false);
      }
      assert.equal(rec.seen.length, 2);
      const [a, b] = rec.seen;
      const ts = String(Math.floor(Date.parse(body.occurredAt) / 1000));
      for (const s of rec.seen) {
        assert.equal(s.headers['idempotency-key'], 'pin-rotation-payments:run-1:certificate_rotation');
        assert.equal(s.headers['x-signature-timestamp'], ts);
        assert.equal(s.headers['x-signature-256'], signDelivery(secret, ts, idempotencyKey(body), s.body));
        assert.equal(s.headers.authorization, 'Bearer tok');
      }
      assert.equal(a.headers['x-signature-256'], b.headers['x-signature-256']);
      assert.equal(a.body, b.body);
    } finally {
      await close(rec.server);
    }
  });

  it('follows no redirect: a 307 to another origin fails for good and the other origin never sees the body', async () => {
    const other = await recorder((_req, res) => res.writeHead(200).end('{}'));
    const redirecting = await recorder((_req, res) => res.writeHead(307, { location: `${other.url}/steal` }).end());
    try {
      const client = new PkiWebhookClient({ url: redirecting.url, token: 'tok', secret: 's' });
      for (const status of [307]) {
        const failure = await failureOf(client.notify(event()));
        assert.equal(failure.type, PkiFailureType.Rejected);
        assert.equal(failure.nonRetryable, true);
        assert.match(failure.message, new RegExp(`redirect \\(HTTP ${status}\\)`));
      }
      assert.equal(redirecting.seen.length, 1);
      assert.equal(other.seen.length, 0);
    } finally {
      await Promise.all([close(other.server), close(redirecting.server)]);
    }
  });

  it('classifies answers: 4xx final except 408 and 429; 5xx, refused connections and timeouts retried', async () => {
    let status = 400;
    const rec = await recorder((_req, res) => {
      if (status === 0) return; // never answers: the sender's timeout decides
      res.writeHead(status).end();
    });
    try {
      const client = new PkiWebhookClient({ url: rec.url, token: 'tok', secret: 's', timeoutMs: 300 });
      const expectations: Array<[number, boolean]> = [[400, true], [401, true], [404, true], [408, false], [429, false], [500, false], [503, false], [0, false]];
      for (const [s, final] of expectations) {
        status = s;
        const failure = await failureOf(client.notify(event()));
        assert.equal(failure.nonRetryable, final, `HTTP ${s}`);
        assert.equal(failure.type, final ? PkiFailureType.Rejected : PkiFailureType.Unavailable, `HTTP ${s}`);
      }
      status = 204;
      assert.deepEqual(await client.notify(event()), { status: 204 });
    } finally {
      await close(rec.server);
    }
    const refused = new PkiWebhookClient({ url: rec.url, token: 'tok', secret: 's' });
    const failure = await failureOf(refused.notify(event()));
    assert.equal(failure.type, PkiFailureType.Unavailable);
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /ECONNREFUSED/);
  });

  it('refuses plain http off loopback and URLs with credentials at construction; allows https and loopback http', () => {
    for (const url of ['http://pki.example.com/hook', 'http://10.0.0.7/hook', 'http://[fe80::1]/hook', 'http://127.0.0.1.nip.io/hook', 'ftp://127.0.0.1/x', 'not a url', 'https://user:pw@pki.example.com/']) {
      assert.throws(() => new PkiWebhookClient({ url, token: 't', secret: 's' }), /PKI_WEBHOOK_URL/, url);
    }
    for (const url of ['https://pki.example.com/hook', 'http://127.0.0.1:9/hook', 'http://127.8.9.10/hook', 'http://localhost:9/hook', 'http://[::1]:9/hook']) {
      assert.doesNotThrow(() => new PkiWebhookClient({ url, token: 't', secret: 's' }), url);
      assert.equal(checkWebhookUrl(url).href, new URL(url).href);
    }
    assert.throws(() => new PkiWebhookClient({ url: 'https://pki.example.com', token: '', secret: 's' }), /PKI_WEBHOOK_TOKEN/);
    assert.throws(() => new PkiWebhookClient({ url: 'https://pki.example.com', token: 't', secret: '' }), /PKI_WEBHOOK_SECRET/);
    for (const h of ['127.0.0.1', '127.255.0.1', '::1', '[::1]', 'localhost', 'api.localhost', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['10.0.0.1', '128.0.0.1', '::2', 'localhost.example.com', '0.0.0.0', '::ffff:10.0.0.1']) assert.equal(isLoopbackHost(h), false, h);
  });

  it('refuses an event without a valid occurredAt instead of signing a made-up time', async () => {
    const client = new PkiWebhookClient({ url: emu.pkiWebhookUrl, token: emu.pkiToken, secret: emu.pkiSecret });
    const failure = await failureOf(client.notify(event({ occurredAt: 'yesterday' })));
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /occurredAt/);
  });

  it('a delivery retried more than 5 minutes after occurredAt is refused by the receiver (401, final)', async () => {
    const client = new PkiWebhookClient({ url: emu.pkiWebhookUrl, token: emu.pkiToken, secret: emu.pkiSecret });
    const failure = await failureOf(client.notify(event({ runId: 'late', occurredAt: new Date(Date.now() - 6 * 60_000).toISOString() })));
    assert.equal(failure.type, PkiFailureType.Rejected);
    assert.deepEqual(failure.details, [{ status: 401 }]);
    const late = (await admin.webhooks()).deliveries.find((d) => d.idempotencyKey === 'pin-rotation-payments:late:certificate_rotation');
    assert.equal(late?.refusal, 'timestamp_skew');
  });

  it("with signatureTime 'attempt', a late retry is accepted once and its next retry is a duplicate", async () => {
    const client = new PkiWebhookClient({ url: emu.pkiWebhookUrl, token: emu.pkiToken, secret: emu.pkiSecret, signatureTime: 'attempt' });
    const body = event({ runId: 'late-2', occurredAt: new Date(Date.now() - 60 * 60_000).toISOString() });
    assert.deepEqual(await client.notify(body), { status: 200 });
    assert.deepEqual(await client.notify(body), { status: 200 });
    const mine = (await admin.webhooks()).deliveries.filter((d) => d.idempotencyKey === 'pin-rotation-payments:late-2:certificate_rotation');
    assert.deepEqual(mine.map((d) => [d.status, d.duplicate]), [[200, false], [200, true]]);
  });
});

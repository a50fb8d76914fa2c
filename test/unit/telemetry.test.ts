import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { EmulatorAdmin, startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { ErrorBody, HandshakeSummary, IssuedCertificate } from '../../src/emulator/types';
import { FailureType, PlatformError } from '../../src/genesys/errors';
import { GenesysPlatform, toHandshakeSummary } from '../../src/genesys/platform-client';
import { describeCertificate, pinFromInfo } from '../../src/pins/digest';
import type { Pin, PinRole } from '../../src/pins/types';

function pinOf(pem: string, role: PinRole): Pin {
  return pinFromInfo(describeCertificate(new X509Certificate(pem)), role);
}

/** One real handshake on the mTLS endpoint; answers the HTTP status. */
function handshake(emu: EmulatorHandle, clientId: string, cert?: IssuedCertificate): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${emu.mtlsUrl}/mtls/${encodeURIComponent(clientId)}`,
      { ca: emu.caCertificatePem, agent: false, ...(cert ? { cert: cert.certificatePem, key: cert.privateKeyPem } : {}) },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function times(n: number, fn: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) out.push(await fn());
  return out;
}

describe('handshake telemetry', () => {
  let emu: EmulatorHandle;
  let admin: EmulatorAdmin;
  let a: IssuedCertificate;
  let b: IssuedCertificate;
  let stranger: IssuedCertificate;
  let platform: GenesysPlatform;
  let token: string;
  const start = new Date(Date.now() - 1000).toISOString();

  before(async () => {
    emu = await startEmulator({ rateLimitPerMinute: 0 });
    admin = new EmulatorAdmin(emu.url, emu.adminToken);
    [a, b, stranger] = await Promise.all(['tele-1', 'tele-1', 'stranger'].map((commonName) => admin.issueCertificate({ commonName })));
    await admin.createClient({ id: 'worker', name: 'worker', secret: 'worker-secret', mtlsRequired: false });
    await admin.createClient({
      id: 'tele-1',
      name: 'tele-1',
      secret: 's',
      mtlsRequired: true,
      certificateChain: b.certificatePem,
      pins: [pinOf(b.certificatePem, 'primary'), pinOf(a.certificatePem, 'fallback')],
    });
    platform = new GenesysPlatform({ clientId: 'worker', clientSecret: 'worker-secret', gatewayUrl: emu.url });
    const login = await fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('worker:worker-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    token = ((await login.json()) as { access_token: string }).access_token;
  });
  after(() => emu.close());

  it('counts every real handshake: accepted by the pin it matched, rejected when none matched', async () => {
    assert.deepEqual(await times(3, () => handshake(emu, 'tele-1', b)), [200, 200, 200]);
    assert.deepEqual(await times(2, () => handshake(emu, 'tele-1', a)), [200, 200]);
    assert.deepEqual(await times(4, () => handshake(emu, 'tele-1', stranger)), [403, 403, 403, 403]);
    assert.equal(await handshake(emu, 'tele-1'), 403);

    const summary = await platform.getHandshakes('tele-1', start);
    assert.equal(summary.clientId, 'tele-1');
    assert.equal(summary.since, start);
    assert.ok(Date.parse(summary.until) >= Date.parse(start));
    assert.equal(summary.accepted, 5);
    assert.equal(summary.rejected, 5);
    assert.ok(summary.rejectedLastSeen !== null && Date.parse(summary.rejectedLastSeen) >= Date.parse(start));
    const byRole = Object.fromEntries(summary.byPin.map((p) => [p.role, p]));
    assert.equal(byRole.primary.accepted, 3);
    assert.equal(byRole.primary.sha256Spki, pinOf(b.certificatePem, 'primary').sha256Spki);
    assert.equal(byRole.primary.sha256Certificate, pinOf(b.certificatePem, 'primary').sha256Certificate);
    assert.equal(byRole.fallback.accepted, 2);
    assert.equal(byRole.fallback.sha256Spki, pinOf(a.certificatePem, 'fallback').sha256Spki);

    // The control plane serves the same summary.
    const viaAdmin = await admin.handshakes('tele-1', start);
    assert.equal(viaAdmin.accepted, 5);
    assert.equal(viaAdmin.rejected, 5);
  });

  it('counts nothing for unknown clients and nothing before `since`', async () => {
    assert.equal(await handshake(emu, 'nobody', a), 403);
    const future = new Date(Date.now() + 60_000).toISOString();
    const none = await platform.getHandshakes('tele-1', future);
    assert.deepEqual([none.accepted, none.rejected, none.byPin, none.rejectedLastSeen], [0, 0, [], null]);
  });

  it('answers like every API route: bearer auth, rate-limit headers, ErrorBody, its own stats bucket', async () => {
    const path = `/api/v2/oauth/clients/tele-1/handshakes?since=${encodeURIComponent(start)}`;
    const ok = await fetch(`${emu.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    for (const h of ['inin-ratelimit-count', 'inin-ratelimit-allowed', 'inin-ratelimit-reset', 'inin-correlation-id']) assert.ok(ok.headers.get(h), h);
    const body = (await ok.json()) as HandshakeSummary;
    assert.deepEqual(Object.keys(body).sort(), ['accepted', 'byPin', 'clientId', 'rejected', 'rejectedLastSeen', 'since', 'until']);
    assert.deepEqual(Object.keys(body.byPin[0]).sort(), ['accepted', 'lastSeen', 'role', 'sha256Certificate', 'sha256Spki']);

    const noAuth = await fetch(`${emu.url}${path}`);
    assert.equal(noAuth.status, 401);
    assert.equal(((await noAuth.json()) as ErrorBody).code, 'authentication.required');
    for (const [query, status] of [['', 400], ['?since=yesterday', 400], ['?since=1', 400]] as const) {
      const res = await fetch(`${emu.url}/api/v2/oauth/clients/tele-1/handshakes${query}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, status, query);
      const err = (await res.json()) as ErrorBody;
      assert.equal(err.code, 'bad.request');
      assert.equal(err.details[0].fieldName, 'since');
    }
    const unknown = await fetch(`${emu.url}/api/v2/oauth/clients/ghost/handshakes?since=${encodeURIComponent(start)}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(unknown.status, 404);
    const stats = await admin.stats();
    assert.ok((stats.requests['GET /api/v2/oauth/clients/{id}/handshakes']?.['200'] ?? 0) >= 2);
    assert.ok((stats.requests['GET /api/v2/oauth/clients/{id}/handshakes']?.['400'] ?? 0) >= 3);
  });

  it('classifies failures in the SDK adapter like the other calls', async () => {
    const rejectsWith = async (p: Promise<unknown>, type: string, status?: number): Promise<PlatformError> => {
      let caught: unknown;
      await p.catch((err: unknown) => (caught = err));
      assert.ok(caught instanceof PlatformError, String(caught));
      assert.equal(caught.type, type);
      if (status !== undefined) assert.equal(caught.status, status);
      return caught;
    };
    await rejectsWith(platform.getHandshakes('ghost', start), FailureType.NotFound, 404);
    await rejectsWith(platform.getHandshakes('tele-1', 'not-a-date'), FailureType.BadRequest, 400);
    await admin.addFault({ method: 'GET', pathPrefix: '/api/v2/oauth/clients/tele-1/handshakes', status: 503, times: 1 });
    await rejectsWith(platform.getHandshakes('tele-1', start), FailureType.Unavailable, 503);
    await admin.addFault({ method: 'GET', pathPrefix: '/api/v2/oauth/clients/tele-1/handshakes', status: 429, times: 1, retryAfter: 7 });
    const limited = await rejectsWith(platform.getHandshakes('tele-1', start), FailureType.RateLimited, 429);
    assert.equal(limited.retryAfterMs, 7000);
    // The pacer saw the platform's window on every answer.
    assert.ok(platform.lastRateLimit && platform.lastRateLimit.allowed > 0);
    assert.equal((await platform.getHandshakes('tele-1', start)).accepted, 5);
  });

  it('refuses a malformed summary instead of guessing', () => {
    const good = { clientId: 'c', since: start, until: start, accepted: 1, rejected: 0, byPin: [{ role: 'primary', sha256Spki: 'x', sha256Certificate: 'y', accepted: 1, lastSeen: start }], rejectedLastSeen: null };
    assert.equal(toHandshakeSummary(good, 'c').accepted, 1);
    for (const bad of [{ ...good, accepted: -1 }, { ...good, byPin: 'x' }, { ...good, byPin: [{ ...good.byPin[0], role: 'other' }] }, { ...good, rejectedLastSeen: 'soon' }, null]) {
      assert.throws(() => toHandshakeSummary(bad, 'c'), (err: unknown) => err instanceof PlatformError && err.type === FailureType.Unexpected);
    }
  });
});

import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { signDelivery } from '../../src/activities/pki';
import { EmulatorAdmin, EmulatorAdminError, startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { ClientView, ErrorBody, IssuedCertificate } from '../../src/emulator/types';
import { describeCertificate, pinFromInfo } from '../../src/pins/digest';
import type { Pin, PinRole } from '../../src/pins/types';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PKI_TOKEN = 'pki-token-for-tests';
const PKI_SECRET = 'pki-secret-for-tests';

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

function pinOf(pem: string, role: PinRole): Pin {
  return pinFromInfo(describeCertificate(new X509Certificate(pem)), role);
}

async function call(base: string, method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // PEM or empty
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

async function login(base: string, clientId: string, secret: string, form = 'grant_type=client_credentials'): Promise<Reply> {
  return call(base, 'POST', '/oauth/token', {
    raw: form,
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
  });
}

async function tokenFor(base: string, clientId: string, secret: string): Promise<string> {
  const res = await login(base, clientId, secret);
  assert.equal(res.status, 200);
  return (res.body as { access_token: string }).access_token;
}

function assertErrorBody(body: unknown, status: number, code: string): ErrorBody {
  const e = body as ErrorBody;
  assert.equal(e.status, status);
  assert.equal(e.code, code);
  assert.equal(typeof e.message, 'string');
  assert.match(e.contextId, UUID);
  assert.ok(Array.isArray(e.details));
  assert.deepEqual(e.errors, []);
  return e;
}

function detailCodes(body: unknown): string[] {
  return (body as ErrorBody).details.map((d) => d.errorCode);
}

function mtlsGet(emu: EmulatorHandle, path: string, cert?: IssuedCertificate): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${emu.mtlsUrl}${path}`,
      { method: 'GET', ca: emu.caCertificatePem, agent: false, ...(cert ? { key: cert.privateKeyPem, cert: cert.certificatePem } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

type Payload = { workflowId: string; runId: string; event: string };

function keyOf(p: Payload): string {
  return `${p.workflowId}:${p.runId}:${p.event}`;
}

/** Posts a delivery signed as DESIGN.md §3 says; every part can be overridden or left out (null). */
async function deliver(
  emu: EmulatorHandle,
  payload: Payload,
  opts: { token?: string; signature?: string | null; key?: string | null; raw?: string; ts?: number | null; secret?: string } = {},
): Promise<Reply> {
  const raw = opts.raw ?? JSON.stringify(payload);
  const key = opts.key === undefined ? keyOf(payload) : opts.key;
  const ts = opts.ts === undefined ? Math.floor(Date.now() / 1000) : opts.ts;
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${opts.token ?? PKI_TOKEN}` };
  const signature = opts.signature === undefined ? signDelivery(opts.secret ?? PKI_SECRET, ts ?? '', key ?? '', raw) : opts.signature;
  if (signature !== null) headers['x-signature-256'] = signature;
  if (key !== null) headers['idempotency-key'] = key;
  if (ts !== null) headers['x-signature-timestamp'] = String(ts);
  return call(emu.url, 'POST', '/pki/webhook', { raw, headers });
}

/** An mTLS refusal without what differs per request (correlation id) or per certificate. */
function strip(body: Record<string, unknown>): Record<string, unknown> {
  const { contextId: _c, presented: _p, ...rest } = body;
  return rest;
}

describe('platform emulator', () => {
  let emu: EmulatorHandle;
  let admin: EmulatorAdmin;
  let certA: IssuedCertificate;
  let certB: IssuedCertificate;
  let certC: IssuedCertificate;
  let token: string;

  before(async () => {
    emu = await startEmulator({ pkiToken: PKI_TOKEN, pkiSecret: PKI_SECRET, rateLimitPerMinute: 0 });
    admin = new EmulatorAdmin(emu.url, emu.adminToken);
    [certA, certB, certC] = await Promise.all(['svc-a', 'svc-b', 'svc-c'].map((cn) => admin.issueCertificate({ commonName: cn })));
    await admin.createClient({ id: 'worker', name: 'worker', secret: 'worker-secret', mtlsRequired: false });
    token = await tokenFor(emu.url, 'worker', 'worker-secret');
  });
  after(() => emu.close());

  async function seed(id: string): Promise<ClientView> {
    return admin.createClient({ id, name: `client ${id}`, secret: `${id}-secret`, mtlsRequired: true, certificateChain: certA.certificatePem, pins: [pinOf(certA.certificatePem, 'primary')] });
  }

  describe('login', () => {
    it('grants a bearer token for valid client credentials', async () => {
      const res = await login(emu.url, 'worker', 'worker-secret');
      assert.equal(res.status, 200);
      const body = res.body as Record<string, unknown>;
      assert.equal(body.token_type, 'bearer');
      assert.equal(body.expires_in, 86400);
      assert.match(String(body.access_token), /^emu_/);
    });

    it('answers OAuth-shaped errors for bad credentials, grant types and missing auth', async () => {
      const bad = await login(emu.url, 'worker', 'wrong');
      assert.equal(bad.status, 401);
      assert.deepEqual(Object.keys(bad.body as object).sort(), ['description', 'error', 'error_description']);
      assert.equal((bad.body as { error: string }).error, 'invalid_client');
      assert.equal((await login(emu.url, 'nobody', 'x')).status, 401);
      const grant = await login(emu.url, 'worker', 'worker-secret', 'grant_type=password');
      assert.equal(grant.status, 400);
      assert.equal((grant.body as { error: string }).error, 'unsupported_grant_type');
      const missing = await login(emu.url, 'worker', 'worker-secret', '');
      assert.equal((missing.body as { error: string }).error, 'invalid_request');
      const noAuth = await call(emu.url, 'POST', '/oauth/token', { raw: 'grant_type=client_credentials' });
      assert.equal(noAuth.status, 401);
      assert.equal((noAuth.body as { error: string }).error, 'invalid_client');
    });
  });

  describe('GET /api/v2/oauth/clients/{id}', () => {
    it('returns the OAuthClient fields with the mTLS fields, never the secret', async () => {
      await seed('get-1');
      const res = await call(emu.url, 'GET', '/api/v2/oauth/clients/get-1', { token });
      assert.equal(res.status, 200);
      const c = res.body as ClientView;
      assert.equal(c.id, 'get-1');
      assert.equal(c.authorizedGrantType, 'CLIENT-CREDENTIALS');
      assert.equal(c.state, 'active');
      assert.deepEqual(c.roleDivisions, []);
      assert.deepEqual(c.scope, []);
      assert.equal(c.mtlsRequired, true);
      assert.equal(c.version, 1);
      assert.equal(c.pins.length, 1);
      assert.equal(c.certificateChain, certA.certificatePem);
      assert.ok(!JSON.stringify(res.body).includes('get-1-secret'));
      assert.match(res.headers.get('inin-correlation-id') ?? '', UUID);
      for (const h of ['inin-ratelimit-count', 'inin-ratelimit-allowed', 'inin-ratelimit-reset']) assert.ok(res.headers.get(h), h);
    });

    it('answers 401 ErrorBody without or with a bad token, 404 for unknown ids', async () => {
      const none = await call(emu.url, 'GET', '/api/v2/oauth/clients/get-1');
      assert.equal(none.status, 401);
      assertErrorBody(none.body, 401, 'authentication.required');
      assert.ok(none.headers.get('inin-ratelimit-count'));
      const bad = await call(emu.url, 'GET', '/api/v2/oauth/clients/get-1', { token: 'emu_nope' });
      assertErrorBody(bad.body, 401, 'bad.credentials');
      const missing = await call(emu.url, 'GET', '/api/v2/oauth/clients/ghost', { token });
      const e = assertErrorBody(missing.body, 404, 'not.found');
      assert.equal(missing.headers.get('inin-correlation-id'), e.contextId);
    });
  });

  describe('PATCH /api/v2/oauth/clients/{id}', () => {
    it('applies chain and pins, bumps the version, refuses a stale version with 409', async () => {
      await seed('patch-1');
      const pins = [pinOf(certB.certificatePem, 'primary'), pinOf(certA.certificatePem, 'fallback')];
      const res = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/patch-1', { token, body: { version: 1, certificateChain: certB.certificatePem, pins } });
      assert.equal(res.status, 200);
      const c = res.body as ClientView;
      assert.equal(c.version, 2);
      assert.deepEqual(c.pins, pins);
      assert.equal(c.certificateChain, certB.certificatePem);
      const stale = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/patch-1', { token, body: { version: 1, mtlsRequired: false } });
      assertErrorBody(stale.body, 409, 'conflict');
      const state = await admin.getClient('patch-1');
      assert.equal(state.version, 2);
      assert.deepEqual(state.versions.map((v) => v.version), [1, 2]);
      assert.deepEqual(state.versions[1].pins, pins);
      assert.equal((state as unknown as Record<string, unknown>).secret, undefined);
      // Pins-only patch: compared to the stored chain (B), so B as primary passes.
      const finalize = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/patch-1', { token, body: { version: 2, pins: [pins[0]] } });
      assert.equal(finalize.status, 200);
      assert.equal((finalize.body as ClientView).version, 3);
      const clear = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/patch-1', { token, body: { version: 3, certificateChain: '', pins: [] } });
      assert.equal(clear.status, 200);
    });

    it('answers 400 bad.request with one detail code per problem, and writes nothing', async () => {
      await seed('bad-1');
      const a = pinOf(certA.certificatePem, 'primary');
      const b = pinOf(certB.certificatePem, 'fallback');
      const c = pinOf(certC.certificatePem, 'backup');
      const keyPem = certA.privateKeyPem;
      const cases: Array<[string, unknown, string]> = [
        ['missing version', { mtlsRequired: true }, 'VERSION_MISSING'],
        ['string version', { version: '1' }, 'VERSION_INVALID'],
        ['fractional version', { version: 1.5 }, 'VERSION_INVALID'],
        ['unknown field', { version: 1, name: 'x' }, 'FIELD_UNKNOWN'],
        ['non-boolean mtlsRequired', { version: 1, mtlsRequired: 'yes' }, 'FIELD_INVALID'],
        ['more than 3 pins', { version: 1, pins: [a, b, c, { ...b, role: 'backup', sha256Spki: 'B'.repeat(43) + '=', sha256Certificate: 'C'.repeat(43) + '=' }] }, 'PINS_TOO_MANY'],
        ['duplicate SPKI', { version: 1, pins: [a, { ...b, sha256Spki: a.sha256Spki }] }, 'PIN_DUPLICATE'],
        ['duplicate certificate digest', { version: 1, pins: [a, { ...b, sha256Certificate: a.sha256Certificate }] }, 'PIN_DUPLICATE'],
        ['malformed digest', { version: 1, pins: [a, { ...b, sha256Spki: 'abc' }] }, 'DIGEST_MALFORMED'],
        ['bad role', { version: 1, pins: [a, { ...b, role: 'secondary' }] }, 'ROLE_INVALID'],
        ['two primaries', { version: 1, pins: [a, { ...b, role: 'primary' }] }, 'PRIMARY_MULTIPLE'],
        ['no primary', { version: 1, pins: [b] }, 'PRIMARY_MISSING'],
        ['unknown pin field', { version: 1, pins: [{ ...a, note: 'x' }] }, 'FIELD_UNKNOWN'],
        ['garbage chain', { version: 1, certificateChain: 'not a certificate' }, 'PEM_INVALID'],
        ['bad base64 in chain', { version: 1, certificateChain: '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n' }, 'PEM_INVALID'],
        ['truncated chain', { version: 1, certificateChain: certB.certificatePem.slice(0, 300) }, 'PEM_INVALID'],
        ['private key in chain', { version: 1, certificateChain: `${certA.certificatePem}${keyPem}` }, 'PRIVATE_KEY_SUPPLIED'],
        ['primary not the stored leaf', { version: 1, pins: [{ ...b, role: 'primary' }] }, 'PRIMARY_NOT_LEAF'],
        ['primary not the new leaf', { version: 1, certificateChain: certB.certificatePem, pins: [a] }, 'PRIMARY_NOT_LEAF'],
        ['new chain that drops the stored primary', { version: 1, certificateChain: certC.certificatePem }, 'PRIMARY_NOT_LEAF'],
        ['array body', [1, 2], 'BODY_INVALID'],
      ];
      for (const [name, body, code] of cases) {
        const res = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/bad-1', { token, body });
        assert.equal(res.status, 400, name);
        const e = assertErrorBody(res.body, 400, 'bad.request');
        assert.ok(detailCodes(e).includes(code), `${name}: expected ${code} in ${JSON.stringify(e.details)}`);
        assert.ok(e.details.every((d) => typeof d.fieldName === 'string' && d.entityId === 'bad-1'), name);
        assert.ok(!e.message.includes('PRIVATE KEY'), `${name}: message must not echo key material`);
      }
      const json = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/bad-1', { token, raw: '{"version":', headers: { 'content-type': 'application/json' } });
      assert.deepEqual(detailCodes(assertErrorBody(json.body, 400, 'bad.request')), ['JSON_INVALID']);
      const huge = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/bad-1', { token, raw: JSON.stringify({ version: 1, certificateChain: 'x'.repeat(600 * 1024) }) });
      assert.equal(huge.status, 413);
      assertErrorBody(huge.body, 413, 'request.entity.too.large');
      const unknown = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/ghost', { token, body: { version: 1 } });
      assertErrorBody(unknown.body, 404, 'not.found');
      const del = await call(emu.url, 'DELETE', '/api/v2/oauth/clients/bad-1', { token });
      assert.equal(del.status, 405);
      assert.equal((await admin.getClient('bad-1')).version, 1);
    });
  });

  describe('faults', () => {
    it('fails the next matching requests as queued, then lets them through', async () => {
      await seed('fault-1');
      const path = '/api/v2/oauth/clients/fault-1';
      await admin.addFault({ method: 'GET', pathPrefix: '/api/v2/oauth/clients/fault-1', status: 429, times: 1, retryAfter: 7 });
      await admin.addFault({ method: 'GET', pathPrefix: '/api/v2/oauth/clients/', status: 503, times: 3 });
      const limited = await call(emu.url, 'GET', path, { token });
      assertErrorBody(limited.body, 429, 'too.many.requests.retry.after');
      assert.equal(limited.headers.get('retry-after'), '7');
      assert.ok(limited.headers.get('inin-ratelimit-count'));
      for (let i = 0; i < 3; i += 1) assertErrorBody((await call(emu.url, 'GET', path, { token })).body, 503, 'service.unavailable');
      assert.equal((await call(emu.url, 'GET', path, { token })).status, 200);
      assert.deepEqual(await admin.faults(), []);
    });

    it('delays, resets connections, hits login, never the control plane, and clears', async () => {
      await admin.addFault({ method: 'GET', pathPrefix: '/api/', status: 500, times: 1, delayMs: 250 });
      const started = Date.now();
      const slow = await call(emu.url, 'GET', '/api/v2/oauth/clients/fault-1', { token });
      assert.ok(Date.now() - started >= 240, 'delayMs was honoured');
      assertErrorBody(slow.body, 500, 'internal.server.error');

      await admin.addFault({ method: '*', pathPrefix: '/', status: 0, times: 1 });
      await assert.rejects(call(emu.url, 'GET', '/api/v2/oauth/clients/fault-1', { token }), TypeError);
      assert.equal((await admin.stats()).requests['GET /api/v2/oauth/clients/{id}']['0'], 1);

      await admin.addFault({ method: 'post', pathPrefix: '/oauth/token', status: 503, times: 1 });
      assert.equal((await login(emu.url, 'worker', 'worker-secret')).status, 503);
      assert.equal((await login(emu.url, 'worker', 'worker-secret')).status, 200);

      await admin.addFault({ method: '*', pathPrefix: '/', status: 503, times: 5 });
      assert.equal((await admin.faults()).length, 1, 'control-plane calls are never faulted');
      assert.deepEqual(await admin.clearFaults(), { cleared: 1 });
      assert.equal((await call(emu.url, 'GET', '/api/v2/oauth/clients/fault-1', { token })).status, 200);

      await assert.rejects(admin.addFault({ method: 'GET', pathPrefix: 'api', status: 200, times: 0 }), (err: unknown) => {
        assert.ok(err instanceof EmulatorAdminError);
        assert.equal(err.status, 400);
        assert.equal(err.code, 'bad.request');
        return true;
      });
    });
  });

  describe('PKI webhook receiver', () => {
    const payload = { event: 'certificate_rotation', clientId: 'c1', serviceId: 's1', pins: [], workflowId: 'wf-1', runId: 'r1', latencyMs: 5, occurredAt: new Date().toISOString() };

    it('accepts a signed delivery once and records duplicates', async () => {
      const first = await deliver(emu, payload);
      assert.equal(first.status, 200);
      assert.deepEqual(first.body, { received: true, duplicate: false, idempotencyKey: 'wf-1:r1:certificate_rotation' });
      const again = await deliver(emu, payload);
      assert.equal(again.status, 200);
      assert.equal((again.body as { duplicate: boolean }).duplicate, true);
      const { deliveries } = await admin.webhooks();
      const mine = deliveries.filter((d) => d.idempotencyKey === 'wf-1:r1:certificate_rotation');
      assert.deepEqual(mine.map((d) => [d.status, d.duplicate, d.signatureValid, d.tokenValid]), [[200, false, true, true], [200, true, true, true]]);
      assert.equal(mine[0].headers.authorization, 'Bearer ***');
      assert.deepEqual(mine[0].body, payload);
      assert.ok(!JSON.stringify(deliveries).includes(PKI_TOKEN));
    });

    it('takes the next run of the same workflow as a new delivery', async () => {
      const next = { ...payload, runId: 'r2' };
      const res = await deliver(emu, next);
      assert.equal(res.status, 200);
      assert.equal((res.body as { duplicate: boolean }).duplicate, false);
    });

    it('refuses (401) a bad token, a missing key, timestamp or signature, a wrong secret and a skewed time', async () => {
      const p = { ...payload, workflowId: 'wf-2' };
      const now = Math.floor(Date.now() / 1000);
      const cases: Array<[string, Parameters<typeof deliver>[2], string]> = [
        ['bad token', { token: 'wrong' }, 'token'],
        ['no key', { key: null }, 'key_missing'],
        ['no timestamp', { ts: null }, 'timestamp_missing'],
        ['no signature', { signature: null }, 'signature'],
        ['other secret', { secret: 'other-secret' }, 'signature'],
        ['malformed signature', { signature: 'sha256=zz' }, 'signature'],
        ['6 minutes old', { ts: now - 360 }, 'timestamp_skew'],
        ['6 minutes ahead', { ts: now + 360 }, 'timestamp_skew'],
      ];
      for (const [name, opts] of cases) {
        const res = await deliver(emu, p, opts);
        assert.equal(res.status, 401, name);
        assertErrorBody(res.body, 401, 'authentication.required');
      }
      // A replay under a new key fails: the key is inside the signature.
      const signedOnce = signDelivery(PKI_SECRET, now, keyOf(p), JSON.stringify(p));
      assert.equal((await deliver(emu, p, { key: 'wf-2:r1:certificate_rotation-again', signature: signedOnce, ts: now })).status, 401);
      // ... and under a new timestamp too.
      assert.equal((await deliver(emu, p, { signature: signedOnce, ts: now + 1 })).status, 401);
      const { deliveries } = await admin.webhooks();
      const refusals = deliveries.filter((d) => d.status === 401).map((d) => d.refusal);
      for (const [, , refusal] of cases) assert.ok(refusals.includes(refusal as never), refusal);
      const skewed = deliveries.find((d) => d.refusal === 'timestamp_skew');
      assert.equal(skewed?.signatureValid, true);
      assert.equal((await admin.stats()).webhooks.processed.certificate_rotation, 2, 'nothing refused was processed');
    });

    it('refuses (400) bodies that are not JSON, unknown events and keys that do not name the body', async () => {
      const p = { ...payload, workflowId: 'wf-4' };
      assert.equal((await deliver(emu, p, { raw: '{not json' })).status, 400);
      assert.equal((await deliver(emu, { ...p, event: 'other' })).status, 400);
      assert.equal((await deliver(emu, p, { key: 'wf-4:r9:certificate_rotation' })).status, 400);
      const { deliveries } = await admin.webhooks();
      assert.equal(deliveries.find((d) => d.body === '{not json')?.refusal, 'json');
      assert.ok(deliveries.some((d) => d.refusal === 'key_mismatch'));
    });

    it('fails armed deliveries without processing their key', async () => {
      const p = { ...payload, event: 'rotation_finalized', workflowId: 'wf-3' };
      const key = 'wf-3:r1:rotation_finalized';
      await admin.failWebhooks({ status: 503, times: 2 });
      assert.equal((await deliver(emu, p)).status, 503);
      assert.equal((await deliver(emu, p)).status, 503);
      const ok = await deliver(emu, p);
      assert.equal(ok.status, 200);
      assert.equal((ok.body as { duplicate: boolean }).duplicate, false);
      const mine = (await admin.webhooks()).deliveries.filter((d) => d.idempotencyKey === key);
      assert.deepEqual(mine.map((d) => [d.status, d.duplicate]), [[503, false], [503, false], [200, false]]);
      const stats = await admin.stats();
      assert.equal(stats.webhooks.processed.rotation_finalized, 1);
      assert.ok(stats.webhooks.duplicates >= 1);
    });
  });

  describe('control plane', () => {
    it('requires X-Admin-Token', async () => {
      assertErrorBody((await call(emu.url, 'GET', '/__admin/stats')).body, 401, 'authentication.required');
      const wrong = await call(emu.url, 'GET', '/__admin/stats', { headers: { 'x-admin-token': 'nope' } });
      assert.equal(wrong.status, 401);
      await assert.rejects(new EmulatorAdmin(emu.url, 'nope').stats(), (err: unknown) => err instanceof EmulatorAdminError && err.status === 401);
    });

    it('validates clients, lists ids, serves the CA PEM', async () => {
      const res = await call(emu.url, 'POST', '/__admin/clients', { headers: { 'x-admin-token': emu.adminToken }, body: { id: 'cp-1', name: 'x', mtlsRequired: 'no', extra: 1 } });
      const e = assertErrorBody(res.body, 400, 'bad.request');
      assert.deepEqual(
        e.details.map((d) => `${d.errorCode}:${d.fieldName}`).sort(),
        ['FIELD_INVALID:mtlsRequired', 'FIELD_MISSING:secret', 'FIELD_UNKNOWN:extra'],
      );
      const pins = await call(emu.url, 'POST', '/__admin/clients', {
        headers: { 'x-admin-token': emu.adminToken },
        body: { id: 'cp-1', name: 'x', secret: 's', mtlsRequired: true, pins: [pinOf(certA.certificatePem, 'primary')] },
      });
      assert.ok(detailCodes(pins.body).includes('PRIMARY_NOT_LEAF'), 'a primary pin needs the chain it pins');
      assert.ok((await admin.listClients()).includes('worker'));
      await assert.rejects(admin.getClient('ghost'), (err: unknown) => err instanceof EmulatorAdminError && err.status === 404 && err.code === 'not.found');
      const ca = await call(emu.url, 'GET', '/__admin/ca', { headers: { 'x-admin-token': emu.adminToken } });
      assert.equal(ca.headers.get('content-type'), 'application/x-pem-file');
      assert.equal(ca.body, emu.caCertificatePem);
      assert.equal(await admin.getCa(), emu.caCertificatePem);
    });

    it('replacing a client resets its version and history and revokes its tokens', async () => {
      await seed('replace-1');
      const own = await tokenFor(emu.url, 'replace-1', 'replace-1-secret');
      await call(emu.url, 'PATCH', '/api/v2/oauth/clients/replace-1', { token, body: { version: 1, mtlsRequired: false } });
      const again = await seed('replace-1');
      assert.equal(again.version, 1);
      assert.equal((await admin.getClient('replace-1')).versions.length, 1);
      assert.equal((await call(emu.url, 'GET', '/api/v2/oauth/clients/replace-1', { token: own })).status, 401);
    });
  });

  describe('CA', () => {
    it('issues client certificates that verify against the CA, with clientAuth and no CA flag', async () => {
      const ca = new X509Certificate(emu.caCertificatePem);
      assert.match(ca.subject, /CN=GenesysCloudArchitectureCA/);
      assert.equal(ca.ca, true);
      const leaf = new X509Certificate(certA.certificatePem);
      assert.ok(leaf.verify(ca.publicKey));
      assert.ok(leaf.checkIssued(ca));
      assert.equal(leaf.ca, false);
      assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.2']);
      assert.match(leaf.subject, /CN=svc-a/);
      assert.ok(leaf.checkPrivateKey(createPrivateKey(certA.privateKeyPem)));
      assert.ok(parseInt(leaf.serialNumber.slice(0, 2), 16) < 0x80, 'serial is positive');
      const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
      assert.ok(days > 90 && days < 90.01, `90 days plus the minute of backdating, got ${days}`);
      assert.ok(Date.parse(leaf.validFrom) < Date.now() - 30_000);
    });

    it('honours days and keyType, and lists the allowed key types on a bad one', async () => {
      const big = await admin.issueCertificate({ commonName: 'big', days: 10, keyType: 'rsa-4096' });
      const leaf = new X509Certificate(big.certificatePem);
      assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, 4096);
      assert.ok(Date.parse(leaf.validTo) - Date.now() < 11 * 86_400_000);
      await assert.rejects(admin.issueCertificate({ commonName: 'x', keyType: 'ec' as never }), (err: unknown) => {
        assert.ok(err instanceof EmulatorAdminError);
        assert.equal(err.status, 400);
        assert.match(err.message, /rsa, .*rsa-4096/);
        return true;
      });
      await assert.rejects(admin.issueCertificate({ commonName: '' }), (err: unknown) => err instanceof EmulatorAdminError && err.status === 400);
    });
  });

  describe('mTLS check endpoint', () => {
    it('accepts a certificate matching a pin and refuses others', async () => {
      await seed('mtls-1');
      const ok = await mtlsGet(emu, '/mtls/mtls-1', certA);
      assert.equal(ok.status, 200);
      assert.equal(ok.body.accepted, true);
      assert.equal(ok.body.matchedRole, 'primary');
      const other = await mtlsGet(emu, '/mtls/mtls-1', certB);
      assert.equal(other.status, 403);
      assert.equal(other.body.accepted, false);
      assert.equal(other.body.reason, 'no_matching_pin');
      const none = await mtlsGet(emu, '/mtls/mtls-1');
      assert.equal(none.status, 403);
      assert.equal(none.body.reason, 'no_client_certificate');
      // An unknown client answers exactly like a known one with a wrong certificate.
      const ghost = await mtlsGet(emu, '/mtls/ghost', certB);
      assert.equal(ghost.status, 403);
      assert.deepEqual(strip(ghost.body), strip({ ...other.body, clientId: 'ghost' }));

      const pins = [pinOf(certB.certificatePem, 'primary'), pinOf(certA.certificatePem, 'fallback')];
      await call(emu.url, 'PATCH', '/api/v2/oauth/clients/mtls-1', { token, body: { version: 1, certificateChain: certB.certificatePem, pins } });
      assert.equal((await mtlsGet(emu, '/mtls/mtls-1', certA)).body.matchedRole, 'fallback');
      assert.equal((await mtlsGet(emu, '/mtls/mtls-1', certB)).body.matchedRole, 'primary');

      await admin.createClient({ id: 'mtls-off', name: 'off', secret: 's', mtlsRequired: true, state: 'inactive', certificateChain: certA.certificatePem, pins: [pinOf(certA.certificatePem, 'primary')] });
      const inactive = await mtlsGet(emu, '/mtls/mtls-off', certA);
      assert.equal(inactive.status, 403);
      assert.equal(inactive.body.reason, 'no_matching_pin');
    });
  });

  describe('robustness', () => {
    it('answers Genesys-shaped errors for unknown routes, bad escapes and malformed HTTP', async () => {
      assertErrorBody((await call(emu.url, 'GET', '/nowhere')).body, 404, 'not.found');
      assertErrorBody((await call(emu.url, 'GET', '/api/v2/oauth/clients/%E0%A4%A', { token })).body, 400, 'bad.request');
      assertErrorBody((await call(emu.url, 'GET', '/api/v2/users', { token })).body, 404, 'not.found');
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(emu.port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
        let data = '';
        socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 400/);
      assertErrorBody(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), 400, 'bad.request');
    });

    it('never answers 500 to arbitrary PATCH bodies, and keeps its invariants', async () => {
      await seed('fuzz-1');
      const a = pinOf(certA.certificatePem, 'primary');
      const b = pinOf(certB.certificatePem, 'fallback');
      const pin = fc.record(
        {
          role: fc.constantFrom('primary', 'fallback', 'backup', 'other'),
          sha256Spki: fc.constantFrom(a.sha256Spki, b.sha256Spki, 'x'),
          sha256Certificate: fc.constantFrom(a.sha256Certificate, b.sha256Certificate, 'x'),
          notAfter: fc.constantFrom(a.notAfter, 'soon'),
          extra: fc.jsonValue(),
        },
        { requiredKeys: ['role', 'sha256Spki', 'sha256Certificate'] },
      );
      const patch = fc.record(
        {
          version: fc.oneof(fc.integer({ min: -1, max: 4 }), fc.jsonValue()),
          certificateChain: fc.oneof(fc.constantFrom(certA.certificatePem, certB.certificatePem, '', certA.certificatePem.slice(0, 200)), fc.jsonValue()),
          mtlsRequired: fc.oneof(fc.boolean(), fc.jsonValue()),
          pins: fc.oneof(fc.array(pin, { maxLength: 4 }), fc.jsonValue()),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(fc.oneof(patch, fc.jsonValue()), async (body) => {
          const res = await call(emu.url, 'PATCH', '/api/v2/oauth/clients/fuzz-1', { token, body });
          assert.ok([200, 400, 409].includes(res.status), `${res.status} for ${JSON.stringify(body)}`);
          if (res.status !== 200) assertErrorBody(res.body, res.status, res.status === 400 ? 'bad.request' : 'conflict');
        }),
        { numRuns: 300 },
      );
      const state = await admin.getClient('fuzz-1');
      assert.ok(state.pins.length <= 3);
      const primary = state.pins.find((p) => p.role === 'primary');
      if (primary) assert.equal(primary.sha256Certificate, describeCertificate(new X509Certificate(state.certificateChain)).sha256Certificate);
      assert.deepEqual(state.versions.map((v) => v.version), Array.from({ length: state.version }, (_, i) => i + 1));
    });

    it('never answers 500 to arbitrary control-plane bodies', async () => {
      const paths = ['/__admin/clients', '/__admin/faults', '/__admin/ca/issue', '/__admin/webhooks/fail'];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...paths), fc.jsonValue(), async (path, body) => {
          const res = await call(emu.url, 'POST', path, { body, headers: { 'x-admin-token': emu.adminToken } });
          assert.ok([200, 201, 400].includes(res.status), `${res.status} for ${path} ${JSON.stringify(body)}`);
        }),
        { numRuns: 200 },
      );
      await admin.clearFaults();
      await admin.failWebhooks({ status: 503, times: 0 });
    });
  });
});

describe('rate limiting and stats', () => {
  let emu: EmulatorHandle;
  let admin: EmulatorAdmin;
  let clock = Date.now();

  before(async () => {
    emu = await startEmulator({ rateLimitPerMinute: 3, now: () => clock });
    admin = new EmulatorAdmin(emu.url, emu.adminToken);
    await admin.createClient({ id: 'rl', name: 'rl', secret: 'rl-secret', mtlsRequired: false });
  });
  after(() => emu.close());

  it('counts per token in a fixed window and answers 429 with Retry-After', async () => {
    const token = await tokenFor(emu.url, 'rl', 'rl-secret');
    for (let i = 1; i <= 3; i += 1) {
      const res = await call(emu.url, 'GET', '/api/v2/oauth/clients/rl', { token });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('inin-ratelimit-count'), String(i));
      assert.equal(res.headers.get('inin-ratelimit-allowed'), '3');
      assert.equal(res.headers.get('inin-ratelimit-reset'), '60');
    }
    clock += 20_500;
    const limited = await call(emu.url, 'GET', '/api/v2/oauth/clients/rl', { token });
    assertErrorBody(limited.body, 429, 'too.many.requests.retry.after');
    assert.equal(limited.headers.get('retry-after'), '40');
    assert.equal(limited.headers.get('inin-ratelimit-reset'), '40');

    const other = await tokenFor(emu.url, 'rl', 'rl-secret');
    assert.equal((await call(emu.url, 'GET', '/api/v2/oauth/clients/rl', { token: other })).status, 200, 'each token has its own window');

    clock += 40_000;
    assert.equal((await call(emu.url, 'GET', '/api/v2/oauth/clients/rl', { token })).status, 200, 'a new window starts');
  });

  it('expires tokens after their TTL', async () => {
    const token = await tokenFor(emu.url, 'rl', 'rl-secret');
    clock += 86_400_000;
    assertErrorBody((await call(emu.url, 'GET', '/api/v2/oauth/clients/rl', { token })).body, 401, 'bad.credentials');
  });

  it('reports request counts by route and status, token grants and 429s; reset clears them', async () => {
    clock += 60_000;
    const token = await tokenFor(emu.url, 'rl', 'rl-secret');
    assert.equal((await call(emu.url, 'GET', '/api/v2/oauth/clients?pageNumber=1&pageSize=25', { token })).status, 200);
    assert.equal((await call(emu.url, 'GET', '/no/such/route', { token })).status, 404);
    const stats = await admin.stats();
    // The list is a platform route of its own (the query string does not split it); unknown paths share '*'.
    assert.deepEqual(stats.requests['GET /api/v2/oauth/clients'], { '200': 1 });
    assert.deepEqual(stats.requests['GET *'], { '404': 1 });
    assert.deepEqual(stats.requests['GET /api/v2/oauth/clients/{id}'], { '200': 5, '401': 1, '429': 1 });
    assert.deepEqual(stats.requests['POST /oauth/token'], { '200': 4 });
    assert.equal(stats.tokenGrants, 4);
    assert.equal(stats.rateLimited429, 1);
    assert.ok(!Object.keys(stats.requests).some((k) => k.includes('__admin')));
    await admin.reset();
    const cleared = await admin.stats();
    assert.deepEqual(cleared.requests, {});
    assert.equal(cleared.tokenGrants, 0);
    assert.deepEqual(await admin.listClients(), []);
  });
});

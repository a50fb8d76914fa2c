import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import { PkiWebhookClient } from '../../src/activities/pki';
import { EmulatorAdmin, EmulatorAdminError, startEmulator, type EmulatorHandle } from '../../src/emulator';
import type { FieldClientView, IssuedCertificate } from '../../src/emulator/types';
import { describeCertificate, pinFromInfo } from '../../src/pins/digest';
import type { Pin, PinRole } from '../../src/pins/types';

function pinOf(pem: string, role: PinRole): Pin {
  return pinFromInfo(describeCertificate(new X509Certificate(pem)), role);
}

/** Polls `read` until `done` holds (every 50 ms, up to `timeoutMs`); answers the last value. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`condition not reached within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A self-signed client certificate the emulator CA never saw (its key is unknown to the emulator). */
function foreignCertificate(cn: string): string {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer([{ name: 'commonName', value: cn }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

describe('field clients', () => {
  let emu: EmulatorHandle;
  let admin: EmulatorAdmin;
  let pki: PkiWebhookClient;
  let token: string;

  before(async () => {
    emu = await startEmulator({ rateLimitPerMinute: 0 });
    admin = new EmulatorAdmin(emu.url, emu.adminToken);
    pki = new PkiWebhookClient({ url: emu.pkiWebhookUrl, token: emu.pkiToken, secret: emu.pkiSecret });
    await admin.createClient({ id: 'worker', name: 'worker', secret: 'worker-secret', mtlsRequired: false });
    const login = await fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('worker:worker-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    token = ((await login.json()) as { access_token: string }).access_token;
  });
  after(() => emu.close());

  async function patch(id: string, body: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${emu.url}/api/v2/oauth/clients/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, await res.text());
  }

  async function view(id: string): Promise<FieldClientView> {
    const found = (await admin.fieldClients()).find((c) => c.clientId === id);
    assert.ok(found, `no field client ${id}`);
    return found;
  }

  it('handshakes with the current leaf and moves to the rotated one deployDelayMs after the webhook was processed', async () => {
    const [oldCert, newCert]: IssuedCertificate[] = await Promise.all(['fc-1', 'fc-1'].map((commonName) => admin.issueCertificate({ commonName })));
    await admin.createClient({ id: 'fc-1', name: 'fc-1', secret: 's', mtlsRequired: true, certificateChain: oldCert.certificatePem });
    const started = await admin.startFieldClient({ clientId: 'fc-1', handshakesPerSecond: 20, deployDelayMs: 1500 });
    const oldPin = pinOf(oldCert.certificatePem, 'primary');
    const newPin = pinOf(newCert.certificatePem, 'primary');
    assert.equal(started.certificate.sha256Spki, oldPin.sha256Spki);
    assert.equal(started.certificate.serialNumber, new X509Certificate(oldCert.certificatePem).serialNumber);
    assert.ok(!JSON.stringify(started).includes('PRIVATE KEY'));
    await until(() => view('fc-1'), (v) => v.accepted >= 3);

    // The rotation: new leaf primary, old one fallback; then the PKI manager hears of it.
    await patch('fc-1', { version: 1, certificateChain: newCert.certificatePem, pins: [newPin, { ...oldPin, role: 'fallback' }] });
    const webhookAt = Date.now();
    await pki.notify({
      event: 'certificate_rotation',
      clientId: 'fc-1',
      serviceId: 'svc',
      pins: [newPin, { ...oldPin, role: 'fallback' }],
      workflowId: 'pin-rotation-fc-1',
      runId: 'r1',
      latencyMs: 1,
      occurredAt: new Date().toISOString(),
    });
    const pending = await view('fc-1');
    assert.equal(pending.pendingDeploy?.sha256Spki, newPin.sha256Spki);
    assert.equal(pending.certificate.sha256Spki, oldPin.sha256Spki, 'not moved before the delay');

    const moved = await until(() => view('fc-1'), (v) => v.certificate.sha256Spki === newPin.sha256Spki);
    const elapsed = Date.now() - webhookAt;
    assert.ok(elapsed >= 1500, `moved after ${elapsed} ms`);
    assert.equal(moved.pendingDeploy, null);
    assert.deepEqual(moved.deployments.map((d) => [d.sha256Spki, d.event]), [[newPin.sha256Spki, 'certificate_rotation']]);
    assert.ok(Date.parse(moved.deployments[0].at) - webhookAt >= 1500);

    // The gateway now sees the new pin used; nothing was rejected on the way.
    const since = new Date(webhookAt).toISOString();
    const summary = await until(() => admin.handshakes('fc-1', since), (s) => s.byPin.some((p) => p.sha256Spki === newPin.sha256Spki && p.accepted >= 2));
    assert.equal(summary.rejected, 0);
    const fallback = summary.byPin.find((p) => p.sha256Spki === oldPin.sha256Spki);
    assert.equal(fallback?.role, 'fallback');
    assert.ok((fallback?.accepted ?? 0) >= 1, 'the old certificate was used during the deploy delay');

    // Finalize (drop the fallback): the field client keeps working.
    await patch('fc-1', { version: 2, pins: [newPin] });
    const before = (await view('fc-1')).accepted;
    const after = await until(() => view('fc-1'), (v) => v.accepted >= before + 3);
    assert.equal(after.rejected, 0);
    assert.equal(after.lastRejection, null);
  });

  it('counts rejections when the gateway no longer pins its certificate (a lockout)', async () => {
    const [oldCert, newCert] = await Promise.all(['fc-2', 'fc-2'].map((commonName) => admin.issueCertificate({ commonName })));
    await admin.createClient({ id: 'fc-2', name: 'fc-2', secret: 's', mtlsRequired: true, certificateChain: oldCert.certificatePem });
    await admin.startFieldClient({ clientId: 'fc-2', handshakesPerSecond: 20, deployDelayMs: 60_000 });
    await until(() => view('fc-2'), (v) => v.accepted >= 1);
    await patch('fc-2', { version: 1, certificateChain: newCert.certificatePem, pins: [pinOf(newCert.certificatePem, 'primary')] });
    const locked = await until(() => view('fc-2'), (v) => v.rejected >= 2);
    assert.equal(locked.lastRejection?.status, 403);
    assert.equal(locked.lastRejection?.reason, 'no_matching_pin');
    assert.equal(locked.lastRejection?.sha256Spki, pinOf(oldCert.certificatePem, 'primary').sha256Spki);
    const summary = await admin.handshakes('fc-2', new Date(Date.now() - 60_000));
    assert.ok(summary.rejected >= locked.rejected, `${summary.rejected} >= ${locked.rejected}`);
  });

  it('follows a rollback back to the restored certificate, and never serves a private key', async () => {
    const [oldCert, newCert] = await Promise.all(['fc-3', 'fc-3'].map((commonName) => admin.issueCertificate({ commonName })));
    await admin.createClient({ id: 'fc-3', name: 'fc-3', secret: 's', mtlsRequired: true, certificateChain: oldCert.certificatePem });
    await admin.startFieldClient({ clientId: 'fc-3', handshakesPerSecond: 20, deployDelayMs: 0 });
    const oldPin = pinOf(oldCert.certificatePem, 'primary');
    const newPin = pinOf(newCert.certificatePem, 'primary');
    const rotated = [newPin, { ...oldPin, role: 'fallback' as const }];
    await patch('fc-3', { version: 1, certificateChain: newCert.certificatePem, pins: rotated });
    const base = { clientId: 'fc-3', serviceId: 's', workflowId: 'pin-rotation-fc-3', runId: 'r1', latencyMs: 1 };
    await pki.notify({ ...base, event: 'certificate_rotation', pins: rotated, occurredAt: new Date().toISOString() });
    await until(() => view('fc-3'), (v) => v.certificate.sha256Spki === newPin.sha256Spki);
    await patch('fc-3', { version: 2, certificateChain: oldCert.certificatePem, pins: [oldPin] });
    await pki.notify({ ...base, event: 'rotation_rolled_back', pins: [oldPin], occurredAt: new Date().toISOString() });
    const back = await until(() => view('fc-3'), (v) => v.certificate.sha256Spki === oldPin.sha256Spki);
    assert.deepEqual(back.deployments.map((d) => d.event), ['certificate_rotation', 'rotation_rolled_back']);
    const listing = JSON.stringify(await admin.fieldClients());
    assert.ok(!/PRIVATE KEY/.test(listing));
    assert.ok(!listing.includes(oldCert.privateKeyPem.split('\n')[1]));
    await admin.stopFieldClients('fc-3');
  });

  it('refuses clients it cannot simulate, with a clear reason', async () => {
    const refused = async (spec: Parameters<EmulatorAdmin['startFieldClient']>[0], status: number, message: RegExp): Promise<void> => {
      await assert.rejects(admin.startFieldClient(spec), (err: unknown) => err instanceof EmulatorAdminError && err.status === status && message.test(err.message));
    };
    await refused({ clientId: 'ghost' }, 404, /not found/);
    await admin.createClient({ id: 'fc-nochain', name: 'n', secret: 's', mtlsRequired: true });
    await refused({ clientId: 'fc-nochain' }, 409, /no certificate chain/);
    await admin.createClient({ id: 'fc-foreign', name: 'f', secret: 's', mtlsRequired: true, certificateChain: foreignCertificate('fc-foreign') });
    await refused({ clientId: 'fc-foreign' }, 409, /private key .* not known to the emulator CA/);
    await refused({ clientId: 'fc-1', handshakesPerSecond: 0 }, 400, /handshakesPerSecond/);
    await refused({ clientId: 'fc-1', deployDelayMs: -1 }, 400, /deployDelayMs/);
  });

  it('stops one or all field clients; stopped clients make no more handshakes', async () => {
    assert.equal(await admin.stopFieldClients('fc-2'), 1);
    assert.deepEqual((await admin.fieldClients()).map((c) => c.clientId), ['fc-1']);
    await assert.rejects(admin.stopFieldClients('fc-2'), (err: unknown) => err instanceof EmulatorAdminError && err.status === 404);
    assert.equal(await admin.stopFieldClients(), 1);
    assert.deepEqual(await admin.fieldClients(), []);
    // Handshakes still in flight at the stop land within their timeout; after that the count must stay still
    // (a running field client at 20/s would add about 20 in the second waited).
    const since = new Date(Date.now() - 60_000).toISOString();
    const stable = await until(
      async () => [(await admin.handshakes('fc-1', since)).accepted, await new Promise((r) => setTimeout(r, 300)), (await admin.handshakes('fc-1', since)).accepted] as const,
      ([a, , b]) => a === b,
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await admin.handshakes('fc-1', since)).accepted, stable[2]);
  });
});

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import { hexOfPublicKey } from '../../src/approvals/keys';
import { newApproverKey, signApprovalClaims } from '../../src/approvals/sign';
import { approverKeysFrom, ConfigError, identityMapFrom } from '../../src/config/worker-config';
import { approvalMessage } from '../../src/contract';
import { certificatesOnly, CertificatesOnlyError } from '../../src/pins/certificates-only';
import { verifyEd25519 } from '../../src/pins/signature';
import { validateInput } from '../../src/workflows/rotation/input';
import { Refusal } from '../../src/workflows/rotation/errors';
import { fakeWorld } from './fakes';

const world = fakeWorld();
const leaf = world.certs.issue('payments');
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pkcs8 = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const jwk = JSON.stringify(key.privateKey.export({ format: 'jwk' }));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CertificatesOnlyError || err instanceof Refusal) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('only certificates travel (certificatesOnly, inside the workflow)', () => {
  const variants: Record<string, string> = {
    'PKCS#8 key after the chain': leaf.certificatePem + pkcs8,
    'lower-case markers': leaf.certificatePem + pkcs8.toLowerCase(),
    'mixed case, ENCRYPTED': `${leaf.certificatePem}-----Begin Encrypted Private Key-----\nMIIB\n-----End Encrypted Private Key-----\n`,
    'RSA PRIVATE KEY': `${leaf.certificatePem}-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n`,
    'EC PRIVATE KEY without dashes': `${leaf.certificatePem}BEGIN EC PRIVATE KEY\nMHcC\n`,
    'OPENSSH key': `${leaf.certificatePem}-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n`,
    'OpenSSH body with its markers stripped': `${leaf.certificatePem}b3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n`,
    'a private JWK after the chain': `${leaf.certificatePem}\n${jwk}\n`,
    'a JWK with only d, escaped in a JSON string': `${leaf.certificatePem}{\\"kty\\":\\"OKP\\",\\"d\\":\\"abc\\"}`,
    'a symmetric JWK (k)': `${leaf.certificatePem}{"kty":"oct","k":"c2VjcmV0"}`,
    'PuTTY key file': `${leaf.certificatePem}PuTTY-User-Key-File-3: ssh-ed25519\n`,
  };
  for (const [name, text] of Object.entries(variants)) {
    test(`refused: ${name}`, () => {
      assert.equal(code(() => certificatesOnly(text)), 'PRIVATE_KEY_SUPPLIED');
      // The message never echoes the key.
      try {
        certificatesOnly(text);
      } catch (err) {
        assert.ok(!(err as Error).message.includes('MIIB') && !(err as Error).message.includes('"d"'));
      }
    });
  }

  test('over 256 KiB is INPUT_TOO_LARGE, counted in UTF-8 bytes', () => {
    assert.equal(code(() => certificatesOnly(leaf.certificatePem + 'x'.repeat(256 * 1024))), 'INPUT_TOO_LARGE');
    assert.equal(code(() => certificatesOnly(leaf.certificatePem + 'é'.repeat(128 * 1024))), 'INPUT_TOO_LARGE');
  });

  test('only CERTIFICATE blocks are kept, re-framed; text, CRLF and other blocks are dropped', () => {
    const messy = `issued by ops\r\n${leaf.certificatePem.replace(/\n/g, '\r\n')}-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\ntrailer`;
    const out = certificatesOnly(messy);
    assert.equal(out.count, 1);
    assert.equal(out.pem, leaf.certificatePem.replace(/\r/g, ''));
    assert.ok(!out.pem.includes('REQUEST') && !out.pem.includes('issued by'));
  });

  test('no certificate, lower-case certificate markers, broken base64 are refused', () => {
    assert.equal(code(() => certificatesOnly('')), 'PEM_INVALID');
    assert.equal(code(() => certificatesOnly(leaf.certificatePem.toLowerCase())), 'PEM_INVALID');
    assert.equal(code(() => certificatesOnly('-----BEGIN CERTIFICATE-----\nno!base64\n-----END CERTIFICATE-----\n')), 'PEM_INVALID');
    assert.equal(code(() => certificatesOnly('-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n')), 'NOT_A_CERTIFICATE');
  });
});

describe('rotation input bounds (validateInput)', () => {
  const base = { clientId: 'payments', certificatePem: leaf.certificatePem };
  test('durations over their bounds, long or odd ids and invalid shapes are INVALID_INPUT', () => {
    assert.equal(code(() => validateInput({ ...base, overlap: '100000000d' })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, overlap: '91d' })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, approval: { required: true, timeout: '99999999d' } })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, approval: { required: true, timeout: '31d' } })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, maxOverlap: '365d' })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, clientId: 'a'.repeat(5000) })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, serviceId: 's'.repeat(5000) })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, serviceId: 'fake\u001b[2Jfinalized' })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput('just a string')), 'INVALID_INPUT');
    assert.equal(code(() => validateInput([base])), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, approval: 'yes' })), 'INVALID_INPUT');
    assert.equal(code(() => validateInput({ ...base, retry: { initialInterval: '99999d' } })), 'INVALID_INPUT');
    // A problem message quotes at most a few words of what it refuses.
    try {
      validateInput({ ...base, overlap: 'x'.repeat(5000) });
    } catch (err) {
      assert.ok((err as Error).message.length < 400, (err as Error).message.slice(0, 100));
    }
  });

  test('within bounds: accepted, and the chain carried on is the re-framed one', () => {
    const v = validateInput({ ...base, certificatePem: `note\n${leaf.certificatePem}`, overlap: '90d', approval: { required: true, timeout: '30d' } });
    assert.equal(v.overlapMs, 90 * 86_400_000);
    assert.equal(v.input.certificatePem, leaf.certificatePem.replace(/\r/g, ''));
    assert.equal(code(() => validateInput({ ...base, certificatePem: leaf.certificatePem + pkcs8.toLowerCase() })), 'PRIVATE_KEY_SUPPLIED');
  });
});

describe('approver keys and signatures', () => {
  test('an Ed25519 signature made with node:crypto verifies with the pure verifier; a changed claim does not', () => {
    const k = newApproverKey();
    const signed = signApprovalClaims(k.key, { workflowId: 'pin-rotation-a', runId: 'r', plannedPins: 'ab', approver: 'alice', expiresAt: '2030-01-01T00:00:00.000Z' });
    const pub = hexOfPublicKey(k.publicKeyPem);
    assert.equal(verifyEd25519(pub, approvalMessage(signed.claims), signed.signature), true);
    assert.equal(verifyEd25519(pub, approvalMessage({ ...signed.claims, plannedPins: 'ac' }), signed.signature), false);
    assert.equal(verifyEd25519(hexOfPublicKey(newApproverKey().publicKeyPem), approvalMessage(signed.claims), signed.signature), false);
    assert.equal(verifyEd25519(pub, approvalMessage(signed.claims), 'zz'), false);
  });

  test('APPROVER_KEYS: a directory of <id>.pem or a JSON file; private, non-Ed25519 keys and bad ids are refused naming the variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'approvers-'));
    const alice = newApproverKey();
    writeFileSync(join(dir, 'alice.pem'), alice.publicKeyPem);
    writeFileSync(join(dir, 'README'), 'ignored');
    assert.deepEqual(approverKeysFrom(dir), [{ id: 'alice', publicKey: hexOfPublicKey(alice.publicKeyPem) }]);
    const json = join(dir, 'keys.json');
    writeFileSync(json, JSON.stringify({ bob: alice.publicKeyPem }));
    assert.equal(approverKeysFrom(json)[0].id, 'bob');
    for (const bad of [{ carol: alice.privateKeyPem }, { dave: key.publicKey.export({ type: 'spki', format: 'pem' }).toString() }, { 'bad id': alice.publicKeyPem }]) {
      writeFileSync(json, JSON.stringify(bad));
      assert.throws(() => approverKeysFrom(json), (err: unknown) => err instanceof ConfigError && /APPROVER_KEYS/.test(err.message) && !err.message.includes('PRIVATE KEY-----'));
    }
  });

  test('CERT_IDENTITY_MAP: inline JSON of client id → names; anything else is refused naming the variable', () => {
    assert.deepEqual(identityMapFrom('{"payments":["payments.example.com"]}'), { payments: ['payments.example.com'] });
    assert.throws(() => identityMapFrom('{"bad id/": ["x"]}'), /CERT_IDENTITY_MAP/);
    assert.throws(() => identityMapFrom('{"payments": "x"}'), /CERT_IDENTITY_MAP/);
    assert.throws(() => identityMapFrom('not json'), /CERT_IDENTITY_MAP/);
  });
});

describe('certificate ↔ client binding (validateCertificate activity)', () => {
  const env = new MockActivityEnvironment();
  const other = world.certs.issue('analytics');
  const mapped = world.certs.issue('payments-service.example');
  const acts = createActivities({ ...world.deps, certificates: { ...world.deps.certificates, identityMap: { payments: ['payments-service.example'] } } });

  test("another client's certificate is IDENTITY_MISMATCH; the client's own id, its name or a mapped name pass", async () => {
    await assert.rejects(env.run(acts.validateCertificate, { certificatePem: other.certificatePem, clientId: 'payments', clientName: 'Payments' }), (err: unknown) => {
      const details = (err as { details?: Array<{ code: string }> }).details;
      return details?.[0]?.code === 'IDENTITY_MISMATCH';
    });
    assert.equal(((await env.run(acts.validateCertificate, { certificatePem: leaf.certificatePem, clientId: 'payments' })) as { leafPin: { role: string } }).leafPin.role, 'primary');
    assert.ok(await env.run(acts.validateCertificate, { certificatePem: other.certificatePem, clientId: 'x1', clientName: 'analytics' }));
    assert.ok(await env.run(acts.validateCertificate, { certificatePem: mapped.certificatePem, clientId: 'payments' }));
    // The mapping is per client: another client cannot borrow it.
    await assert.rejects(env.run(acts.validateCertificate, { certificatePem: mapped.certificatePem, clientId: 'analytics' }));
  });
});

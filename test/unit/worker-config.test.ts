import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadWorkerConfig } from '../../src/config/worker-config';
import { forgeCert } from './pins-fixtures';

// `pinrotate worker` validates its whole environment once at start: every problem is named by variable, and no
// value (several are secrets) is ever echoed back.
const SECRET = 'client-secret-do-not-print-9f3a';
const WEBHOOK_SECRET = 'webhook-secret-do-not-print-77c1';
const WEBHOOK_TOKEN = 'webhook-token-do-not-print-1b2e';

let dir: string;
let trustPath: string;

function baseEnv(): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
    GENESYS_CLIENT_ID: 'worker-client',
    GENESYS_CLIENT_SECRET: SECRET,
    GENESYS_GATEWAY_URL: 'http://127.0.0.1:8787',
    PKI_WEBHOOK_URL: 'http://127.0.0.1:8787/pki/webhook',
    PKI_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    PKI_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PIN_TRUST_BUNDLE: trustPath,
  };
}

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadWorkerConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    for (const secret of [SECRET, WEBHOOK_SECRET, WEBHOOK_TOKEN]) assert.ok(!err.message.includes(secret), 'no secret in the error');
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('worker configuration', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pinrotate-config-'));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Date.now();
    const ca = forgeCert({
      cn: 'GenesysCloudArchitectureCA',
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      selfKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 365 * 86_400_000),
      ca: true,
    });
    trustPath = join(dir, 'trust.pem');
    writeFileSync(trustPath, ca);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('defaults: task queue, rate limit, timeout, issuer, a bounded sticky cache', () => {
    const { env, trustPem, minRemainingMs } = loadWorkerConfig(baseEnv());
    assert.equal(env.TEMPORAL_TASK_QUEUE, 'pin-rotation');
    assert.equal(env.PLATFORM_RATE_LIMIT_PER_MINUTE, 300);
    assert.equal(env.GENESYS_TIMEOUT_MS, 15_000);
    assert.equal(env.PIN_EXPECTED_ISSUER, 'GenesysCloudArchitectureCA');
    assert.equal(env.WORKER_MAX_CACHED_WORKFLOWS, 200);
    assert.equal(minRemainingMs, 7 * 86_400_000);
    assert.match(trustPem, /BEGIN CERTIFICATE/);
  });

  test('numbers are read from their text and kept in range', () => {
    assert.equal(loadWorkerConfig({ ...baseEnv(), WORKER_MAX_CACHED_WORKFLOWS: '0' }).env.WORKER_MAX_CACHED_WORKFLOWS, 0);
    assert.equal(loadWorkerConfig({ ...baseEnv(), PLATFORM_RATE_LIMIT_PER_MINUTE: '600' }).env.PLATFORM_RATE_LIMIT_PER_MINUTE, 600);
    for (const [name, value] of [
      ['WORKER_MAX_CACHED_WORKFLOWS', '-1'],
      ['WORKER_MAX_CACHED_WORKFLOWS', 'many'],
      ['WORKER_MAX_CACHED_WORKFLOWS', '2.5'],
      ['PLATFORM_RATE_LIMIT_PER_MINUTE', '0'],
      ['GENESYS_TIMEOUT_MS', '10'],
      ['METRICS_PORT', '70000'],
      ['PIN_MIN_REMAINING', 'a week'],
    ] as const) {
      const problems = problemsOf({ ...baseEnv(), [name]: value });
      assert.ok(problems.some((p) => p.startsWith(`${name}:`)), `${name}=${value} is named in ${JSON.stringify(problems)}`);
    }
  });

  test('every missing or bad variable is reported at once, by name, without its value', () => {
    const env: Record<string, string | undefined> = { ...baseEnv(), GENESYS_CLIENT_ID: undefined, PKI_WEBHOOK_SECRET: 'short', PKI_WEBHOOK_URL: 'not a url' };
    const problems = problemsOf(env);
    for (const name of ['GENESYS_CLIENT_ID', 'PKI_WEBHOOK_SECRET', 'PKI_WEBHOOK_URL']) {
      assert.ok(problems.some((p) => p.startsWith(`${name}:`)), `${name} in ${JSON.stringify(problems)}`);
    }
    assert.ok(!problems.join('\n').includes('short'), 'the short secret is not echoed');
  });

  test('a region or a gateway is required', () => {
    const problems = problemsOf({ ...baseEnv(), GENESYS_GATEWAY_URL: undefined });
    assert.ok(problems.some((p) => p.includes('GENESYS_REGION')), JSON.stringify(problems));
  });

  test('a trust bundle that is missing or holds no certificate is refused by name', () => {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'nothing here\n');
    for (const path of [join(dir, 'missing.pem'), empty]) {
      const problems = problemsOf({ ...baseEnv(), PIN_TRUST_BUNDLE: path });
      assert.ok(problems.some((p) => p.startsWith('PIN_TRUST_BUNDLE:')), JSON.stringify(problems));
    }
  });

  test('what workflow inputs may reach is nothing until configured', () => {
    const config = loadWorkerConfig(baseEnv());
    assert.deepEqual(config.certSources.allowedDirs, []);
    assert.equal(config.certSources.https, undefined);
    assert.deepEqual(config.probeKeyDirs, []);
  });

  test('CERT_SOURCE_DIRS and PROBE_KEY_DIR: absolute existing directories, made canonical', () => {
    const certs = join(dir, 'certs');
    const keys = join(dir, 'keys');
    mkdirSync(certs, { recursive: true });
    mkdirSync(keys, { recursive: true });
    const link = join(dir, 'certs-link');
    symlinkSync(certs, link);
    const config = loadWorkerConfig({ ...baseEnv(), CERT_SOURCE_DIRS: `${link}:${keys}`, PROBE_KEY_DIR: keys });
    assert.deepEqual(config.certSources.allowedDirs, [realpathSync(certs), realpathSync(keys)]);
    assert.deepEqual(config.probeKeyDirs, [realpathSync(keys)]);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    for (const name of ['CERT_SOURCE_DIRS', 'PROBE_KEY_DIR']) {
      for (const value of ['relative/dir', join(dir, 'missing'), file, '/', '/proc', '/proc/self', '/dev', '']) {
        const problems = problemsOf({ ...baseEnv(), [name]: value });
        assert.ok(problems.some((p) => p.startsWith(`${name}:`)), `${name}=${value} is named in ${JSON.stringify(problems)}`);
      }
    }
  });

  test('CERT_SOURCE_HOSTS: host, host:port, [v6]:port and *.domain; anything else is named', () => {
    const config = loadWorkerConfig({ ...baseEnv(), CERT_SOURCE_HOSTS: 'PKI.example.com, *.corp.example:8443,[::1]:9443,10.0.0.7', CERT_SOURCE_ALLOW_PRIVATE_NETWORKS: '1', CERT_SOURCE_CA_FILE: trustPath });
    assert.deepEqual(config.certSources.https?.allowedHosts, [{ host: 'pki.example.com' }, { host: '*.corp.example', port: 8443 }, { host: '::1', port: 9443 }, { host: '10.0.0.7' }]);
    assert.equal(config.certSources.https?.allowPrivateNetworks, true);
    assert.match(config.certSources.https?.caPem ?? '', /BEGIN CERTIFICATE/);
    assert.equal(loadWorkerConfig({ ...baseEnv(), CERT_SOURCE_HOSTS: 'pki.example.com' }).certSources.https?.allowPrivateNetworks, false);
    for (const value of ['https://pki.example.com', 'pki.example.com/path', 'a b', 'host:0', 'host:70000', '*', '', 'user@host']) {
      const problems = problemsOf({ ...baseEnv(), CERT_SOURCE_HOSTS: value });
      assert.ok(problems.some((p) => p.startsWith('CERT_SOURCE_HOSTS:')), `CERT_SOURCE_HOSTS=${value} is named in ${JSON.stringify(problems)}`);
    }
    const flags = problemsOf({ ...baseEnv(), CERT_SOURCE_HOSTS: 'pki.example.com', CERT_SOURCE_ALLOW_PRIVATE_NETWORKS: 'maybe' });
    assert.ok(flags.some((p) => p.startsWith('CERT_SOURCE_ALLOW_PRIVATE_NETWORKS:')), JSON.stringify(flags));
    const caAlone = problemsOf({ ...baseEnv(), CERT_SOURCE_CA_FILE: trustPath });
    assert.ok(caAlone.some((p) => p.startsWith('CERT_SOURCE_CA_FILE:')), JSON.stringify(caAlone));
    const caMissing = problemsOf({ ...baseEnv(), CERT_SOURCE_HOSTS: 'pki.example.com', CERT_SOURCE_CA_FILE: join(dir, 'missing-ca.pem') });
    assert.ok(caMissing.some((p) => p.startsWith('CERT_SOURCE_CA_FILE:')), JSON.stringify(caMissing));
  });

  test('several bad access variables are reported together, with the other problems', () => {
    const problems = problemsOf({ ...baseEnv(), CERT_SOURCE_DIRS: 'relative', PROBE_KEY_DIR: '/proc', PIN_TRUST_BUNDLE: join(dir, 'missing.pem') });
    for (const name of ['CERT_SOURCE_DIRS', 'PROBE_KEY_DIR', 'PIN_TRUST_BUNDLE']) assert.ok(problems.some((p) => p.startsWith(`${name}:`)), `${name} in ${JSON.stringify(problems)}`);
  });

  test('payload codec migration switches are flags, read into the codec', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const config = loadWorkerConfig({ ...baseEnv(), PAYLOAD_CODEC_KEY: key, PAYLOAD_CODEC_ALLOW_PLAINTEXT: '1' });
    assert.equal(config.codec?.options.allowPlaintext, true);
    assert.equal(config.codec?.options.allowUnbound, false);
    assert.equal(loadWorkerConfig({ ...baseEnv(), PAYLOAD_CODEC_KEY: key }).codec?.options.allowPlaintext, false);
    const keyFile = join(dir, 'codec.key');
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    assert.equal(loadWorkerConfig({ ...baseEnv(), PAYLOAD_CODEC_KEY_FILE: keyFile }).codec?.keyId, 'default');
    const problems = problemsOf({ ...baseEnv(), PAYLOAD_CODEC_KEY: key, PAYLOAD_CODEC_ALLOW_PLAINTEXT: 'sometimes' });
    assert.ok(problems.some((p) => p.startsWith('PAYLOAD_CODEC_ALLOW_PLAINTEXT:')), JSON.stringify(problems));
  });

  test('secrets may come from <NAME>_FILE instead of the environment, and are never echoed', () => {
    const secretFile = join(dir, 'client-secret');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const env: Record<string, string | undefined> = { ...baseEnv(), GENESYS_CLIENT_SECRET: undefined, GENESYS_CLIENT_SECRET_FILE: secretFile };
    assert.equal(loadWorkerConfig(env).env.GENESYS_CLIENT_SECRET, SECRET);
    const both = problemsOf({ ...baseEnv(), GENESYS_CLIENT_SECRET_FILE: secretFile });
    assert.ok(both.some((p) => p.startsWith('GENESYS_CLIENT_SECRET_FILE:') && p.includes('not both')), JSON.stringify(both));
    for (const path of [join(dir, 'missing-secret'), dir]) {
      const problems = problemsOf({ ...baseEnv(), PKI_WEBHOOK_SECRET: undefined, PKI_WEBHOOK_SECRET_FILE: path });
      assert.ok(problems.some((p) => p.startsWith('PKI_WEBHOOK_SECRET_FILE:')), JSON.stringify(problems));
      assert.ok(!problems.some((p) => p.startsWith('PKI_WEBHOOK_SECRET:')), 'reported once, by the variable that was set');
    }
  });
});

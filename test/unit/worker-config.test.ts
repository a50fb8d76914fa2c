import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
});

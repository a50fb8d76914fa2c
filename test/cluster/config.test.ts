/** The native cluster's pieces that need no running cluster: the server config, stale lock files, port rules. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot, serverConfig, type Ports } from '../../src/temporal/cluster';
import { clearStalePidFile } from '../../src/temporal/postgres';
import { DYNAMIC_CONFIG_PATH, SQL_PLUGIN } from '../../src/temporal/versions';

const ports: Ports = {
  frontend: 7233,
  frontendHttp: 7243,
  frontendMembership: 26933,
  history: 27234,
  historyMembership: 26934,
  matching: 27235,
  matchingMembership: 26935,
  worker: 27239,
  workerMembership: 26939,
  metrics: 9090,
  postgres: 55432,
  ui: 8233,
};

describe('native cluster configuration', () => {
  const config = serverConfig({ version: 1, postgresPassword: 'pw', ports }, join(repoRoot(), DYNAMIC_CONFIG_PATH)) as {
    persistence: { datastores: Record<string, { sql: { pluginName: string; databaseName: string; connectAddr: string } }> };
    services: Record<string, { rpc: { grpcPort: number; membershipPort: number; httpPort?: number } }>;
    global: { metrics: { prometheus: { listenAddress: string } } };
    dynamicConfigClient: { filepath: string };
  };

  test('all four services, on PostgreSQL with the postgres12 plugin, metrics for Prometheus, the repository dynamic config', () => {
    assert.deepEqual(Object.keys(config.services).sort(), ['frontend', 'history', 'matching', 'worker']);
    assert.deepEqual(
      Object.values(config.persistence.datastores).map((d) => [d.sql.pluginName, d.sql.databaseName, d.sql.connectAddr]),
      [
        [SQL_PLUGIN, 'temporal', '127.0.0.1:55432'],
        [SQL_PLUGIN, 'temporal_visibility', '127.0.0.1:55432'],
      ],
    );
    assert.equal(config.services.frontend.rpc.grpcPort, 7233);
    assert.equal(config.services.frontend.rpc.httpPort, 7243);
    assert.equal(config.global.metrics.prometheus.listenAddress, '127.0.0.1:9090');
    assert.ok(existsSync(config.dynamicConfigClient.filepath));
  });

  test('membership ports fit the smallint column the server stores them in', () => {
    for (const s of Object.values(config.services)) assert.ok(s.rpc.membershipPort < 32768, `${s.rpc.membershipPort} < 32768`);
  });
});

describe('stale postmaster.pid after a SIGKILL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinrotate-pidfile-'));
  const pidFile = join(dir, 'postmaster.pid');

  test('a pid that no longer runs: removed', () => {
    const gone = spawnSync('true').pid;
    writeFileSync(pidFile, `${gone}\n${dir}\n`);
    assert.equal(clearStalePidFile(dir), 'removed');
    assert.ok(!existsSync(pidFile));
  });

  test('a pid reused by another program (not postgres): removed', () => {
    writeFileSync(pidFile, `${process.pid}\n${dir}\n`);
    assert.equal(clearStalePidFile(dir), 'removed');
  });

  test('no file: nothing to do', () => {
    assert.equal(clearStalePidFile(dir), 'none');
    rmSync(dir, { recursive: true, force: true });
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { repoRoot, serverConfig } from '../../src/temporal/cluster';
import { DYNAMIC_CONFIG_PATH, POSTGRES_MAJOR, SQL_PLUGIN, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../src/temporal/versions';
import { TASK_QUEUE, platformTaskQueue } from '../../src/contract';

// The compose cluster (README "Running on a cluster") is not started by the tests (no Docker engine here); this
// checks its structure, so a broken edit fails here rather than on an operator's first `docker compose up`, and that
// it runs what the native cluster (`pinrotate cluster start`, started by test/cluster) runs.
const ROOT = join(__dirname, '..', '..', '..');
const COMPOSE = join(ROOT, 'docker-compose.temporal.yml');

interface Service {
  image?: string;
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: Array<string | { published?: string | number; target?: string | number }>;
  environment?: string[] | Record<string, string | number | boolean | null>;
  entrypoint?: string | string[];
  command?: string | string[];
  healthcheck?: { test?: string | string[]; interval?: string; retries?: number; disable?: boolean };
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
}

interface Compose {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function load(): Compose {
  const doc = parse(readFileSync(COMPOSE, 'utf8')) as Compose;
  assert.ok(doc && typeof doc === 'object', 'the compose file is a YAML mapping');
  return doc;
}

function service(name: string): Service {
  const s = load().services?.[name];
  assert.ok(s, `service ${name} is defined`);
  return s;
}

function env(s: Service): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(s.environment)) {
    for (const item of s.environment) {
      const at = item.indexOf('=');
      out[at < 0 ? item : item.slice(0, at)] = at < 0 ? '' : item.slice(at + 1);
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? '' : String(v);
  }
  return out;
}

/** Host ports a service publishes, from short (`"7233:7233"`, `"127.0.0.1:8080:8080"`) or long syntax. */
function publishedPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return Number(p.published);
    const parts = String(p).split('/')[0].split(':');
    assert.ok(parts.length >= 2, `port ${p} is published to the host, not only exposed`);
    return Number(parts[parts.length - 2]);
  });
}

/** A service's mounts, from short (`src:target[:ro]`) or long syntax. */
function mounts(s: Service): Array<{ source?: string; target?: string }> {
  return (s.volumes ?? []).map((v) => (typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : { source: v.source, target: v.target }));
}

function commandText(s: Service): string {
  const part = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));
  return `${part(s.entrypoint)} ${part(s.command)}`.replace(/\s+/g, ' ');
}

describe('docker-compose.temporal.yml', () => {
  test('defines PostgreSQL, the Temporal server, its admin tools and the Web UI', () => {
    const names = Object.keys(load().services ?? {});
    for (const name of ['postgresql', 'temporal', 'temporal-admin-tools', 'temporal-ui']) assert.ok(names.includes(name), `service ${name} in [${names.join(', ')}]`);
  });

  test('every image is pinned to a version tag, never latest or untagged', () => {
    const services = load().services ?? {};
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.image, `${name} has an image`);
      const tag = /^[^@]+:([^:/@]+)$/.exec(s.image)?.[1];
      assert.ok(tag, `${name} image ${s.image} has a tag`);
      assert.notEqual(tag, 'latest', `${name} image ${s.image} is not latest`);
      assert.match(tag, /^v?\d+\.\d+(\.\d+)?/, `${name} image ${s.image} is tagged with a version number`);
    }
  });

  test('the Temporal server starts only once PostgreSQL is healthy', () => {
    const deps = service('temporal').depends_on;
    assert.ok(deps && !Array.isArray(deps), 'temporal uses the long depends_on form, which carries a condition');
    assert.equal(deps.postgresql?.condition, 'service_healthy');
  });

  test('PostgreSQL has a healthcheck and keeps its data in a named volume', () => {
    const pg = service('postgresql');
    assert.ok(pg.healthcheck && !pg.healthcheck.disable, 'postgresql has a healthcheck');
    const probe = Array.isArray(pg.healthcheck.test) ? pg.healthcheck.test.join(' ') : (pg.healthcheck.test ?? '');
    assert.match(probe, /pg_isready/);
    const declared = Object.keys(load().volumes ?? {});
    const data = mounts(pg)
      .find((v) => v.target === '/var/lib/postgresql/data');
    assert.ok(data, 'a volume is mounted at /var/lib/postgresql/data');
    // A named volume, not a bind mount of a host path.
    assert.ok(data.source && !/^[./~]/.test(data.source), `volume source ${data.source} is a name`);
    assert.ok(declared.includes(data.source), `volume ${data.source} is declared under top-level volumes`);
  });

  test('publishes the frontend on 7233 and the Web UI on 8080', () => {
    assert.ok(publishedPorts(service('temporal')).includes(7233), 'temporal publishes 7233');
    assert.ok(publishedPorts(service('temporal-ui')).includes(8080), 'temporal-ui publishes 8080');
  });

  test('the admin tools register ClientId, ServiceId and RotationStatus as Keyword search attributes', () => {
    const cmd = commandText(service('temporal-admin-tools'));
    assert.match(cmd, /search-attribute create/);
    for (const name of ['ClientId', 'ServiceId', 'RotationStatus']) {
      assert.match(cmd, new RegExp(`--name ${name} --type Keyword\\b`), `${name} is registered as Keyword`);
    }
  });

  test('the server loads the dynamic config file, with one partition for the platform task queue', () => {
    const temporal = service('temporal');
    const path = env(temporal).DYNAMIC_CONFIG_FILE_PATH;
    assert.ok(path, 'DYNAMIC_CONFIG_FILE_PATH is set');
    // The image runs from /etc/temporal, so a relative path resolves there.
    const inContainer = path.startsWith('/') ? path : `/etc/temporal/${path}`;
    const mount = mounts(temporal)
      .find((v) => v.target === inContainer);
    assert.ok(mount?.source, `a host file is mounted at ${inContainer}`);
    assert.match(mount.source, /^\.\//, 'the mounted file is a path in this repository');
    const config = parse(readFileSync(join(ROOT, mount.source), 'utf8')) as Record<string, Array<{ value: unknown; constraints?: Record<string, unknown> }>>;
    for (const [key, entries] of Object.entries(config)) {
      assert.ok(Array.isArray(entries) && entries.length > 0, `${key} is a list of values`);
      for (const e of entries) assert.ok('value' in e && typeof (e.constraints ?? {}) === 'object', `${key} entries have a value and constraints`);
    }
    const queue = platformTaskQueue(TASK_QUEUE);
    for (const key of ['matching.numTaskqueueReadPartitions', 'matching.numTaskqueueWritePartitions']) {
      const entry = config[key]?.find((e) => e.constraints?.taskQueueName === queue);
      assert.ok(entry, `${key} is set for ${queue}`);
      assert.equal(entry.value, 1, `${key} for ${queue}`);
    }
  });

  test("the Web UI talks to the Temporal server's frontend", () => {
    assert.equal(env(service('temporal-ui')).TEMPORAL_ADDRESS, 'temporal:7233');
  });
});

describe('docker-compose.temporal.yml and the native cluster are one configuration', () => {
  const tagOf = (image: string | undefined): string => /:([^:/@]+)$/.exec(image ?? '')?.[1] ?? '';
  const plain = (v: string): string => v.replace(/^v/, '');

  test('the same Temporal server version (and admin tools built for it)', () => {
    assert.equal(tagOf(service('temporal').image), plain(TEMPORAL_SERVER_VERSION));
    assert.ok(tagOf(service('temporal-admin-tools').image).startsWith(`${plain(TEMPORAL_SERVER_VERSION)}-`), 'admin tools of the same server version');
  });

  test('the same Web UI version', () => {
    assert.equal(tagOf(service('temporal-ui').image), plain(TEMPORAL_UI_VERSION));
  });

  test('the same PostgreSQL major version and SQL plugin', () => {
    assert.equal(Number(tagOf(service('postgresql').image).split('.')[0]), POSTGRES_MAJOR);
    assert.equal(env(service('temporal')).DB, SQL_PLUGIN);
  });

  test('the same dynamic config file', () => {
    const temporal = service('temporal');
    const path = env(temporal).DYNAMIC_CONFIG_FILE_PATH;
    const inContainer = path.startsWith('/') ? path : `/etc/temporal/${path}`;
    const mount = mounts(temporal).find((v) => v.target === inContainer);
    assert.equal(mount?.source, `./${DYNAMIC_CONFIG_PATH}`);
    // The native cluster's server config points at the same file.
    const config = serverConfig({ version: 1, postgresPassword: 'x', ports: {} as never }, join(ROOT, DYNAMIC_CONFIG_PATH)) as { dynamicConfigClient: { filepath: string } };
    assert.equal(config.dynamicConfigClient.filepath, join(ROOT, DYNAMIC_CONFIG_PATH));
    assert.equal(repoRoot(), ROOT);
  });
});

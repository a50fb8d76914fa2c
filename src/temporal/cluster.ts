import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { freePort, waitFor } from './net';
import { DB_USER, ensureDatabase, findPostgres, initCluster, runAsFor, startPostgres, type PostgresHandle } from './postgres';
import { SEARCH_ATTRIBUTES } from '../contract';
import { ensureServerBinaries, ensureUiServerBinary } from './server-binary';
import { DYNAMIC_CONFIG_PATH, POSTGRES_MAJOR, SCHEMA_NAMES, SQL_PLUGIN, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from './versions';

/**
 * The native production-shaped cluster (DESIGN.md §8): PostgreSQL in `dataDir/postgres`, its schemas set up or
 * migrated with the server's own schema tool, the Temporal server (frontend, history, matching and worker
 * services in one process) with the repository's dynamic config, the namespace and search attributes
 * registered, and the Web UI server. Everything it needs to resume lives in `dataDir`: started again after any
 * crash it reuses the same database, password and internal ports.
 */

export const NAMESPACE = 'default';
/** How long closed workflows stay visible (the retention of `default`, set when it is first registered). */
export const NAMESPACE_RETENTION_SECONDS = 7 * 24 * 3600;
/** Fixed forever once the database exists: Temporal cannot change the shard count of a cluster. */
const HISTORY_SHARDS = 4;

/** Search attribute type names → IndexedValueType (temporal.api.enums.v1). */
const INDEXED_VALUE_TYPES: Record<string, number> = { Text: 1, Keyword: 2, Int: 3, Double: 4, Bool: 5, Datetime: 6, KeywordList: 7 };

export interface ClusterOptions {
  dataDir: string;
  /** Frontend gRPC port (default 7233). */
  port?: number;
  /** Frontend HTTP API port (default: the one used last time on this data dir, else a free one). */
  httpPort?: number;
  /** Web UI port; 0 runs no UI. */
  uiPort?: number;
  postgresPort?: number;
  /** The server's Prometheus endpoint. */
  metricsPort?: number;
  progress?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface Ports {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  metrics: number;
  postgres: number;
  ui: number;
}

/** What the data directory remembers between runs (owner-only: it holds the database password). */
export interface ClusterState {
  version: 1;
  postgresPassword: string;
  ports: Ports;
}

export interface Cluster {
  address: string;
  namespace: string;
  httpUrl: string;
  uiUrl?: string;
  metricsUrl: string;
  postgresPort: number;
  dataDir: string;
  /** pids of the server, PostgreSQL's postmaster and the UI server. */
  pids: { server?: number; postgres?: number; ui?: number };
  /** Resolves when any cluster process exits on its own, with its name. */
  exited: Promise<string>;
  stop(): Promise<void>;
}

/** The repository root (dist/src/temporal → three levels up; src/temporal under ts-node → two). */
export function repoRoot(): string {
  for (const up of ['../../..', '../..']) {
    const dir = resolve(__dirname, up);
    if (existsSync(join(dir, DYNAMIC_CONFIG_PATH))) return dir;
  }
  throw new Error(`cannot find ${DYNAMIC_CONFIG_PATH} above ${__dirname}`);
}

async function portIsFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolveFree) => {
    const s = createServer();
    s.once('error', () => resolveFree(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolveFree(true)));
  });
}

/**
 * A free port below 32768: the server records membership ports in a smallint column, and the kernel's ephemeral
 * range (where freePort's answers come from) starts at 32768.
 */
async function freeLowPort(): Promise<number> {
  for (let i = 0; i < 200; i += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portIsFree(port)) return port;
  }
  throw new Error('no free port between 20000 and 32000 on 127.0.0.1');
}

/** A port asked for, else last run's when still free, else a free one. */
async function choosePort(wanted: number | undefined, previous: number | undefined, low = false): Promise<number> {
  if (wanted) return wanted;
  if (previous && (await portIsFree(previous))) return previous;
  return low ? freeLowPort() : freePort();
}

async function loadState(dataDir: string, opts: ClusterOptions): Promise<ClusterState> {
  const file = join(dataDir, 'cluster.json');
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ClusterState) : undefined;
  const p: Partial<Ports> = previous?.ports ?? {};
  const ports: Ports = {
    frontend: opts.port || p.frontend || 7233,
    frontendHttp: await choosePort(opts.httpPort, p.frontendHttp),
    frontendMembership: await choosePort(undefined, p.frontendMembership, true),
    history: await choosePort(undefined, p.history),
    historyMembership: await choosePort(undefined, p.historyMembership, true),
    matching: await choosePort(undefined, p.matching),
    matchingMembership: await choosePort(undefined, p.matchingMembership, true),
    worker: await choosePort(undefined, p.worker),
    workerMembership: await choosePort(undefined, p.workerMembership, true),
    metrics: await choosePort(opts.metricsPort, p.metrics),
    postgres: await choosePort(opts.postgresPort, p.postgres),
    ui: opts.uiPort === 0 ? 0 : await choosePort(opts.uiPort, p.ui),
  };
  const state: ClusterState = { version: 1, postgresPassword: previous?.postgresPassword ?? randomBytes(24).toString('base64url'), ports };
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return state;
}

/** The server's configuration (JSON is YAML; the server reads it with a YAML parser). */
export function serverConfig(state: ClusterState, dynamicConfigFile: string): object {
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: SQL_PLUGIN,
      databaseName,
      connectAddr: `127.0.0.1:${state.ports.postgres}`,
      connectProtocol: 'tcp',
      user: DB_USER,
      password: state.postgresPassword,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipPort: number, extra: object = {}) => ({ rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra } });
  const p = state.ports;
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: { 'postgres-default': sql('temporal', 20), 'postgres-visibility': sql('temporal_visibility', 10) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `127.0.0.1:${p.metrics}` } },
    },
    services: {
      frontend: service(p.frontend, p.frontendMembership, { httpPort: p.frontendHttp }),
      history: service(p.history, p.historyMembership),
      matching: service(p.matching, p.matchingMembership),
      worker: service(p.worker, p.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${p.frontend}`, httpAddress: `127.0.0.1:${p.frontendHttp}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
}

function spawnLogged(cmd: string, args: string[], logPath: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const fd = openSync(logPath, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  return child;
}

function tailOf(path: string, from: number): string {
  try {
    return readFileSync(path, 'utf8').slice(from).trim().split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/** Runs the schema tool; the password goes in SQL_PASSWORD, not in its arguments. */
async function sqlTool(tool: string, state: ClusterState, database: string, args: string[], logPath: string): Promise<void> {
  const from = existsSync(logPath) ? statSync(logPath).size : 0;
  const child = spawnLogged(tool, ['--ep', '127.0.0.1', '-p', String(state.ports.postgres), '-u', DB_USER, '--pl', SQL_PLUGIN, '--db', database, ...args], logPath, {
    ...process.env,
    SQL_PASSWORD: state.postgresPassword,
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed (exit ${code}); ${logPath} ends:\n${tailOf(logPath, from)}`);
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 5;
}

/** Registers the namespace (when missing) and any missing search attribute; safe to run on every start. */
export async function registerNamespace(connection: Connection, namespace = NAMESPACE): Promise<{ namespaceCreated: boolean; searchAttributesAdded: string[] }> {
  let namespaceCreated = false;
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(NAMESPACE_RETENTION_SECONDS * 1000) });
    namespaceCreated = true;
  }
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !have.has(name));
  if (missing.length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_VALUE_TYPES[type]])) });
  }
  return { namespaceCreated, searchAttributesAdded: missing.map(([name]) => name) };
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? (() => undefined);
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const logs = join(dataDir, 'logs');
  mkdirSync(logs, { recursive: true });

  const binaries = await ensureServerBinaries(progress, env);
  const ui = opts.uiPort === 0 ? undefined : await ensureUiServerBinary(progress, env);
  const pg = findPostgres(env);
  if (pg.major < 12) throw new Error(`PostgreSQL ${pg.major} in ${pg.bindir} is too old: the ${SQL_PLUGIN} plugin needs 12 or later`);
  if (pg.major !== POSTGRES_MAJOR) progress(`warning: PostgreSQL ${pg.major} in ${pg.bindir}; docker-compose.temporal.yml and the tests use ${POSTGRES_MAJOR}`);
  const runAs = runAsFor(env);
  const state = await loadState(dataDir, opts);

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const fn of stops.splice(0).reverse()) await fn().catch(() => undefined);
  };
  const exitWatchers: Array<Promise<string>> = [];
  try {
    const pgdata = join(dataDir, 'postgres');
    if (await initCluster(pgdata, state.postgresPassword, pg, runAs)) progress(`PostgreSQL ${pg.major} cluster created in ${pgdata}${runAs.user ? ` (owned by ${runAs.user.name})` : ''}`);
    const postgres: PostgresHandle = await startPostgres({ pgdata, port: state.ports.postgres, password: state.postgresPassword, logPath: join(logs, 'postgres.log'), tools: pg, runAs, progress });
    stops.push(() => postgres.stop());
    exitWatchers.push(postgres.exited.then(() => 'postgres'));
    progress(`PostgreSQL ${pg.major} on 127.0.0.1:${state.ports.postgres}`);

    for (const [db, schema] of [
      ['temporal', SCHEMA_NAMES.temporal],
      ['temporal_visibility', SCHEMA_NAMES.visibility],
    ] as const) {
      if (await ensureDatabase(postgres, db)) progress(`database ${db} created`);
      // Both steps are idempotent: setup-schema only creates the version tables when missing, update-schema
      // applies the versions the database does not have yet.
      const sqlLog = join(logs, 'schema.log');
      await sqlTool(binaries.sqlTool, state, db, ['setup-schema', '-v', '0.0'], sqlLog);
      await sqlTool(binaries.sqlTool, state, db, ['update-schema', '--schema-name', schema], sqlLog);
      progress(`schema ${schema} up to date in ${db}`);
    }

    const configDir = join(dataDir, 'config');
    mkdirSync(configDir, { recursive: true });
    const dynamicConfigFile = join(repoRoot(), DYNAMIC_CONFIG_PATH);
    const configFile = join(configDir, 'pinrotate.yaml');
    writeFileSync(configFile, `${JSON.stringify(serverConfig(state, dynamicConfigFile), null, 2)}\n`, { mode: 0o600 });
    chmodSync(configFile, 0o600);

    const serverLog = join(logs, 'server.log');
    const serverLogStart = existsSync(serverLog) ? statSync(serverLog).size : 0;
    const server = spawnLogged(binaries.server, ['--root', dataDir, '--config', 'config', '--env', 'pinrotate', '--allow-no-auth', 'start'], serverLog);
    let serverExit: number | null | undefined;
    const serverExited = new Promise<string>((r) =>
      server.once('exit', (code, signal) => {
        serverExit = code ?? (signal ? -1 : null);
        r('temporal-server');
      }),
    );
    exitWatchers.push(serverExited);
    stops.push(async () => {
      if (serverExit !== undefined) return;
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 20_000);
      await serverExited;
      clearTimeout(timer);
    });
    const address = `127.0.0.1:${state.ports.frontend}`;
    progress(`Temporal server ${TEMPORAL_SERVER_VERSION} starting (log ${serverLog})`);
    let connection: Connection | undefined;
    await waitFor(
      async () => {
        if (serverExit !== undefined) throw new Error(`the server exited (${serverExit}); ${serverLog} ends:\n${tailOf(serverLog, serverLogStart)}`);
        connection ??= await Connection.connect({ address, connectTimeout: 2000 });
        const health = await connection.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' });
        return health.status === 1;
      },
      `the Temporal frontend on ${address}`,
      120_000,
      250,
    ).catch((err: Error) => {
      throw new Error(serverExit !== undefined ? `Temporal server exited (${serverExit}); ${serverLog} ends:\n${tailOf(serverLog, serverLogStart)}` : err.message);
    });
    const conn = connection as unknown as Connection;
    try {
      // History and matching may join a moment after the frontend answers health checks.
      let registered: Awaited<ReturnType<typeof registerNamespace>> | undefined;
      await waitFor(
        async () => {
          registered = await registerNamespace(conn);
          return true;
        },
        `namespace ${NAMESPACE} and its search attributes`,
        60_000,
        500,
      );
      if (registered?.namespaceCreated) progress(`namespace ${NAMESPACE} registered (retention ${NAMESPACE_RETENTION_SECONDS / 86400}d)`);
      if (registered?.searchAttributesAdded.length) progress(`search attributes added: ${registered.searchAttributesAdded.join(', ')}`);
    } finally {
      await conn.close();
    }

    let uiUrl: string | undefined;
    let uiPid: number | undefined;
    if (ui && state.ports.ui) {
      const uiRoot = join(dataDir, 'ui');
      mkdirSync(join(uiRoot, 'config'), { recursive: true });
      const uiConfig = {
        temporalGrpcAddress: address,
        host: '127.0.0.1',
        port: state.ports.ui,
        enableUi: true,
        defaultNamespace: NAMESPACE,
        cors: { allowOrigins: [`http://127.0.0.1:${state.ports.ui}`, `http://localhost:${state.ports.ui}`] },
        notifyOnNewVersion: false,
      };
      writeFileSync(join(uiRoot, 'config', 'pinrotate.yaml'), `${JSON.stringify(uiConfig, null, 2)}\n`);
      const uiLog = join(logs, 'ui.log');
      const uiChild = spawnLogged(ui, ['--root', uiRoot, '--config', 'config', '--env', 'pinrotate', 'start'], uiLog);
      let uiExit: number | null | undefined;
      const uiExited = new Promise<string>((r) =>
        uiChild.once('exit', (code) => {
          uiExit = code;
          r('temporal-ui-server');
        }),
      );
      exitWatchers.push(uiExited);
      stops.push(async () => {
        if (uiExit !== undefined) return;
        uiChild.kill('SIGTERM');
        const timer = setTimeout(() => uiChild.kill('SIGKILL'), 10_000);
        await uiExited;
        clearTimeout(timer);
      });
      uiUrl = `http://127.0.0.1:${state.ports.ui}`;
      await waitFor(
        async () => {
          if (uiExit !== undefined) throw new Error(`the UI server exited (${uiExit}); ${uiLog} ends:\n${tailOf(uiLog, 0)}`);
          return (await fetch(`${uiUrl}/api/v1/settings`)).ok;
        },
        `the Web UI ${TEMPORAL_UI_VERSION} on ${uiUrl}`,
        60_000,
        250,
      );
      uiPid = uiChild.pid;
    }

    return {
      address,
      namespace: NAMESPACE,
      httpUrl: `http://127.0.0.1:${state.ports.frontendHttp}`,
      uiUrl,
      metricsUrl: `http://127.0.0.1:${state.ports.metrics}/metrics`,
      postgresPort: state.ports.postgres,
      dataDir,
      pids: { server: server.pid, postgres: postgres.process.pid, ui: uiPid },
      exited: Promise.race(exitWatchers),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

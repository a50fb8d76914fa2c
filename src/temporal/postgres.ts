import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, chmodSync, chownSync, constants, existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './net';

/**
 * PostgreSQL from the operating system's packages, initialised in a data directory of its own (DESIGN.md §8).
 * Run as root, every PostgreSQL process runs as an unprivileged user (`postgres`, or PINROTATE_POSTGRES_USER),
 * which owns the data directory. It listens on 127.0.0.1 only (no Unix socket) and asks for a password
 * (scram-sha-256), which travels in PGPASSWORD / SQL_PASSWORD, never in a process argument.
 */

const run = promisify(execFile);

export const DB_USER = 'temporal';

export interface PgTools {
  bindir: string;
  initdb: string;
  postgres: string;
  psql: string;
  major: number;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** PG_BIN_DIR, then the directory `initdb` on PATH really lives in, then the newest /usr/lib/postgresql/N/bin. */
export function findPostgres(env: NodeJS.ProcessEnv = process.env): PgTools {
  const candidates: string[] = [];
  if (env.PG_BIN_DIR) candidates.push(env.PG_BIN_DIR);
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'initdb'))) candidates.push(dirname(realpathSync(join(dir, 'initdb'))));
  }
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // not a Debian-style layout
  }
  candidates.push('/usr/local/pgsql/bin', '/usr/pgsql/bin');
  for (const bindir of candidates) {
    const initdb = join(bindir, 'initdb');
    const postgres = join(bindir, 'postgres');
    if (!isExecutable(initdb) || !isExecutable(postgres)) continue;
    const version = spawnSync(postgres, ['--version'], { encoding: 'utf8' }).stdout ?? '';
    const major = Number(/(\d+)(?:\.\d+)?/.exec(version.replace(/^[^\d]*/, ''))?.[1]);
    if (!Number.isInteger(major)) continue;
    const psql = isExecutable(join(bindir, 'psql')) ? join(bindir, 'psql') : 'psql';
    return { bindir, initdb, postgres, psql, major };
  }
  throw new Error(
    `PostgreSQL not found (looked in ${env.PG_BIN_DIR ? 'PG_BIN_DIR, ' : ''}PATH and /usr/lib/postgresql/*/bin): install the OS package (apt-get install postgresql) or set PG_BIN_DIR`,
  );
}

/** How to run a PostgreSQL program: directly, or as the unprivileged user when we are root. */
export interface RunAs {
  user?: { name: string; uid: number; gid: number };
  /** Prefix for argv (setpriv drops privileges and then execs, so the child's pid is the program's). */
  prefix: string[];
}

export function runAsFor(env: NodeJS.ProcessEnv = process.env): RunAs {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { prefix: [] };
  const name = env.PINROTATE_POSTGRES_USER || 'postgres';
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout?.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout?.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) {
    throw new Error(`running as root, PostgreSQL must run as an unprivileged user, and user "${name}" does not exist (create it, or set PINROTATE_POSTGRES_USER)`);
  }
  return { user: { name, uid, gid }, prefix: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--'] };
}

function argv(runAs: RunAs, program: string, args: string[]): [string, string[]] {
  const all = [...runAs.prefix, program, ...args];
  return [all[0], all.slice(1)];
}

/** `/`, `/a`, `/a/b`… down to `dir`. */
function ancestors(dir: string): string[] {
  const parts = dir.split('/').filter(Boolean);
  return ['/', ...parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`)];
}

function chownTo(path: string, runAs: RunAs): void {
  if (runAs.user) chownSync(path, runAs.user.uid, runAs.user.gid);
}

/**
 * Creates the cluster in `pgdata` once: initdb into a sibling directory, then a rename, so a crash during
 * initdb never leaves a half-made cluster behind. Returns false when the cluster already existed.
 */
export async function initCluster(pgdata: string, password: string, tools: PgTools, runAs: RunAs): Promise<boolean> {
  if (existsSync(join(pgdata, 'PG_VERSION'))) return false;
  const parent = dirname(pgdata);
  if (runAs.user) {
    // The unprivileged user must be able to reach the data directory through its parents.
    chmodSync(parent, statSync(parent).mode | 0o711);
    const blocked = ancestors(parent).find((dir) => {
      const [cmd, args] = argv(runAs, 'test', ['-x', dir]);
      return spawnSync(cmd, args).status !== 0;
    });
    if (blocked) {
      throw new Error(`user ${runAs.user.name} cannot reach ${parent}: ${blocked} lacks search permission for it (e.g. chmod o+x ${blocked}, or choose another --data-dir)`);
    }
  }
  const staging = `${pgdata}.init`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o700 });
  chownTo(staging, runAs);
  const pwfile = join(parent, `.pg-init-password-${process.pid}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  chownTo(pwfile, runAs);
  try {
    const [cmd, args] = argv(runAs, tools.initdb, ['-D', staging, '-U', DB_USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C']);
    const res = spawnSync(cmd, args, { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`initdb failed (exit ${res.status}): ${`${res.stderr ?? ''}${res.error?.message ?? ''}`.trim().slice(-2000)}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
  // Loopback TCP only; enough connections for four services and their pools.
  appendFileSync(
    join(staging, 'postgresql.conf'),
    ["\n# pinrotate cluster", "listen_addresses = '127.0.0.1'", "unix_socket_directories = ''", 'max_connections = 200', ''].join('\n'),
  );
  renameSync(staging, pgdata);
  return true;
}

/**
 * A postmaster.pid left by a SIGKILLed cluster: PostgreSQL itself refuses to start while the pid in it is alive,
 * which a zombie (never reaped when the parent died too) or an unrelated process that reused the pid still is.
 * Removes the file unless that pid is a live postgres; throws when it is (the cluster is running already).
 */
export function clearStalePidFile(pgdata: string): 'none' | 'removed' {
  const file = join(pgdata, 'postmaster.pid');
  if (!existsSync(file)) return 'none';
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = /\(([^)]*)\)/.exec(stat)?.[1] ?? '';
      const state = stat.replace(/^.*\) /, '')[0];
      if (state !== 'Z' && comm.startsWith('postgres')) {
        throw new Error(`PostgreSQL is already running on ${pgdata} (pid ${pid}): is another \`pinrotate cluster start\` using this data directory?`);
      }
    } catch (err) {
      if (!(err as NodeJS.ErrnoException).code) throw err;
    }
  }
  unlinkSync(file);
  return 'removed';
}

export interface PostgresHandle {
  port: number;
  process: ChildProcess;
  exited: Promise<number | null>;
  query(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  pgdata: string;
  port: number;
  password: string;
  logPath: string;
  tools: PgTools;
  runAs: RunAs;
  progress?: (message: string) => void;
  timeoutMs?: number;
}

/** The log's last lines, for error messages (PostgreSQL logs hold no secrets: the password is never logged). */
function logTail(path: string, from: number): string {
  try {
    return readFileSync(path, 'utf8').slice(from).trim().split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts the postmaster as a child process (not via pg_ctl, so its pid is ours to stop or kill) and waits until
 * it answers a query. Backends orphaned by a killed postmaster exit on their own within moments and hold the
 * old shared memory until then, so a start refused for that reason is retried for a while.
 */
export async function startPostgres(opts: StartPostgresOptions): Promise<PostgresHandle> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  mkdirSync(dirname(opts.logPath), { recursive: true });
  const query = async (sql: string, database = 'postgres'): Promise<string> => {
    const { stdout } = await run(opts.tools.psql, ['-h', '127.0.0.1', '-p', String(opts.port), '-U', DB_USER, '-d', database, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], {
      env: { ...process.env, PGPASSWORD: opts.password, PGCONNECT_TIMEOUT: '5' },
    });
    return stdout.trim();
  };
  for (let attempt = 1; ; attempt += 1) {
    if (clearStalePidFile(opts.pgdata) === 'removed') opts.progress?.(`removed a stale postmaster.pid in ${opts.pgdata}`);
    const logStart = existsSync(opts.logPath) ? statSync(opts.logPath).size : 0;
    const fd = openSync(opts.logPath, 'a');
    const [cmd, args] = argv(opts.runAs, opts.tools.postgres, ['-D', opts.pgdata, '-p', String(opts.port)]);
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let exitCode: number | null | undefined;
    let authFailed = false;
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => {
        exitCode = code ?? (signal ? -1 : null);
        resolve(exitCode);
      });
      child.once('error', () => resolve(-1));
    });
    try {
      await waitFor(
        async () => {
          if (exitCode !== undefined) throw new Error('exited');
          try {
            return (await query('SELECT 1')) === '1';
          } catch (err) {
            // Waiting longer cannot help: the cluster holds another password than the one we keep for it.
            if (/password authentication failed/.test(String(err))) authFailed = true;
            if (authFailed) return true;
            throw err;
          }
        },
        `PostgreSQL on 127.0.0.1:${opts.port}`,
        Math.max(1000, deadline - Date.now()),
        200,
      );
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      const tail = logTail(opts.logPath, logStart);
      if (/shared memory block|lock file|could not bind/.test(tail) && Date.now() < deadline) {
        opts.progress?.(`PostgreSQL refused to start yet (attempt ${attempt}): ${tail.split('\n').pop()}; retrying`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw new Error(`PostgreSQL did not start on 127.0.0.1:${opts.port} (${err instanceof Error ? err.message : String(err)}); its log ${opts.logPath} ends:\n${tail}`);
    }
    if (authFailed) {
      child.kill('SIGINT');
      await exited;
      throw new Error(`PostgreSQL in ${opts.pgdata} refused the password kept for it (was cluster.json replaced or removed?)`);
    }
    return {
      port: opts.port,
      process: child,
      exited,
      query,
      async stop() {
        if (exitCode !== undefined) return;
        // SIGINT is PostgreSQL's fast shutdown: active transactions roll back, the checkpoint is written.
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGQUIT'), 30_000);
        await exited;
        clearTimeout(timer);
      },
    };
  }
}

/** Creates `name` unless it exists. */
export async function ensureDatabase(pg: PostgresHandle, name: string): Promise<boolean> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid database name ${name}`);
  const exists = await pg.query(`SELECT 1 FROM pg_database WHERE datname = '${name}'`);
  if (exists === '1') return false;
  await pg.query(`CREATE DATABASE ${name}`);
  return true;
}

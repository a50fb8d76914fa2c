import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, waitFor } from './net';
import { SEARCH_ATTRIBUTES } from '../contract';
import { ensurePrivateDir, restrictFile } from '../config/private-files';

/**
 * Runs `temporal server start-dev` as a child process (SQLite file, UI on) for `pinrotate dev` and `demo`.
 * Tests use the SDK's TestWorkflowEnvironment.createLocal with the same binary instead.
 */

export interface DevServerOptions {
  cliPath: string;
  ip?: string;
  port?: number;
  uiPort?: number;
  httpPort?: number;
  /** SQLite file; omitted means in-memory (state lost when the server stops). */
  dbFilename?: string;
  headless?: boolean;
  namespace?: string;
  /**
   * Partitions per task queue (default 1). The server splits maxTaskQueueActivitiesPerSecond evenly over a queue's
   * partitions (Temporal's default is 4) and a partition with no backlog wastes its share (npm run bench
   * ratelimited compares the two).
   */
  taskQueuePartitions?: number;
  onLog?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  httpUrl: string;
  namespace: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port || (await freePort(ip));
  const uiPort = opts.uiPort || (await freePort(ip));
  const httpPort = opts.httpPort || (await freePort(ip));
  const namespace = opts.namespace ?? 'default';
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--http-port', String(httpPort), '--log-level', 'warn'];
  if (opts.headless) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (opts.dbFilename) {
    ensurePrivateDir(dirname(opts.dbFilename));
    args.push('--db-filename', opts.dbFilename);
  }
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  // Visibility reads see new search attributes at once, so tests and the UI never wait on a cache.
  args.push('--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=true');
  const partitions = opts.taskQueuePartitions ?? 1;
  args.push('--dynamic-config-value', `matching.numTaskqueueReadPartitions=${partitions}`, '--dynamic-config-value', `matching.numTaskqueueWritePartitions=${partitions}`);

  const child = spawn(opts.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 50) output.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });

  const address = `${ip}:${port}`;
  try {
    await waitFor(
      async () => {
        if (exited !== undefined) throw new Error(`temporal server exited with ${exited}:\n${output.join('\n')}`);
        const connection = await Connection.connect({ address, connectTimeout: 1000 });
        try {
          await connection.workflowService.getSystemInfo({});
          return true;
        } finally {
          await connection.close();
        }
      },
      `the Temporal dev server on ${address}`,
      90_000,
      250,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  // The SQLite files hold every rotation's history (inputs, results): owner-only, like the rest of the data directory.
  if (opts.dbFilename) for (const suffix of ['', '-wal', '-shm']) restrictFile(`${opts.dbFilename}${suffix}`);

  return {
    address,
    uiUrl: opts.headless ? undefined : `http://${ip}:${uiPort}`,
    httpUrl: `http://${ip}:${httpPort}`,
    namespace,
    process: child,
    async stop() {
      if (exited !== undefined) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

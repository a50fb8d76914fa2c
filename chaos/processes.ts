import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { EmulatorHandle } from '../src/emulator/server';

/**
 * The chaos run's real processes: the emulator and the worker, each `pinrotate <command>` in its own Node process
 * (from the same build as the runner, see cli.ts), with output kept in the data dir for a post-mortem.
 */

export const CLI_ENTRY = join(__dirname, 'cli.js');

/** Only what a child needs from our environment: no TEMPORAL_* or GENESYS_* of the operator's shell leaks in. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'XDG_CACHE_HOME', 'NODE_OPTIONS']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Resolves with the first stdout line matching `match`, rejects when the child exits or the time runs out. */
function waitForLine(child: ChildProcess, match: (line: string) => boolean, timeoutMs: number, what: string, tail: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (match(line)) {
          cleanup();
          resolve(line);
          return;
        }
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`${what} exited (${signal ?? code}) before it was ready:\n${tail()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} not ready within ${timeoutMs} ms:\n${tail()}`));
    }, timeoutMs);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function tailOf(child: ChildProcess, log: WriteStream): () => string {
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    log.write(chunk);
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > 30) lines.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => lines.join('\n');
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** What `pinrotate emulator --json` prints: the handle's addresses and credentials. */
export type EmulatorDetails = Pick<EmulatorHandle, 'url' | 'mtlsUrl' | 'adminToken' | 'pkiWebhookUrl' | 'pkiToken' | 'pkiSecret' | 'caCertificatePem'>;

export interface EmulatorProcess {
  details: EmulatorDetails;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `pinrotate emulator --port 0 --mtls-port 0 --rate-limit R --json`, ready once it printed its JSON line. */
export async function startEmulatorProcess(opts: { dataDir: string; rateLimit: number; adminToken: string }): Promise<EmulatorProcess> {
  const log = createWriteStream(join(opts.dataDir, 'emulator.log'));
  const child = spawn(process.execPath, [CLI_ENTRY, 'emulator', '--port', '0', '--mtls-port', '0', '--rate-limit', String(opts.rateLimit), '--json'], {
    env: { ...baseEnv(), EMULATOR_ADMIN_TOKEN: opts.adminToken, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = tailOf(child, log);
  const line = await waitForLine(child, (l) => l.trim().startsWith('{'), 30_000, 'the emulator', tail).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    details: JSON.parse(line) as EmulatorDetails,
    child,
    async stop() {
      const gone = exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
      log.end();
    },
  };
}

export interface WorkerEvents {
  /** The worker ended without being killed by the run (a crash the run did not cause). */
  onUnexpectedExit(info: { generation: number; code: number | null; signal: string | null; tail: string }): void;
}

/**
 * `pinrotate worker --env-file FILE`, started, SIGKILLed and started again. A worker that exits on its own is
 * reported and restarted, so the run can finish and say so.
 */
export class WorkerSupervisor {
  private child?: ChildProcess;
  private generation = 0;
  private stopping = false;
  kills = 0;
  starts = 0;
  unexpectedExits = 0;
  private restarting?: Promise<void>;
  /** Children this supervisor SIGKILLed itself, so their exit is not taken for a crash. */
  private readonly killed = new WeakSet<ChildProcess>();

  constructor(
    private readonly opts: { dataDir: string; envFile: string; readyTimeoutMs: number; progress: (m: string) => void },
    private readonly events: WorkerEvents,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts a worker and waits until it logged `worker started` (its workflow bundle built, pollers up). */
  async start(): Promise<void> {
    this.generation += 1;
    const generation = this.generation;
    const log = createWriteStream(join(this.opts.dataDir, `worker-${generation}.log`));
    const child = spawn(process.execPath, [CLI_ENTRY, 'worker', '--env-file', this.opts.envFile], { env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts += 1;
    const tail = tailOf(child, log);
    child.once('exit', (code, signal) => {
      log.end();
      if (this.child !== child || this.stopping || this.killed.has(child)) return;
      this.unexpectedExits += 1;
      this.events.onUnexpectedExit({ generation, code, signal, tail: tail() });
      this.child = undefined;
      // Keep the rotations going: the run reports the crash as a violation and still checks everything else.
      this.restarting = new Promise<void>((r) => setTimeout(r, 1000)).then(() => (this.stopping ? undefined : this.start()));
      this.restarting.catch((err: unknown) => this.opts.progress(`worker restart failed: ${err instanceof Error ? err.message : String(err)}`));
    });
    await waitForLine(child, (l) => l.includes('"worker started"'), this.opts.readyTimeoutMs, `worker #${generation}`, tail);
  }

  /** SIGKILL, no goodbye: in-flight activities and workflow tasks are abandoned mid-way. */
  async kill(): Promise<void> {
    await this.restarting;
    const child = this.child;
    if (!child) return;
    this.killed.add(child);
    const gone = exited(child);
    child.kill('SIGKILL');
    await gone;
    this.kills += 1;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.restarting?.catch(() => undefined);
    const child = this.child;
    if (!child) return;
    const gone = exited(child);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(timer);
  }
}

/**
 * Real processes for the cluster suite: `pinrotate cluster start` and `pinrotate worker` as children of the test
 * (each in its own process group, so "SIGKILL every cluster process" is one kill of the group), and a Prometheus
 * when the OS has one. Nothing here sleeps and hopes: every wait polls for the state it needs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../src/temporal/net';

export const ROOT = join(__dirname, '..', '..', '..');
export const PINROTATE = join(ROOT, 'bin', 'pinrotate.js');

export interface ClusterInfo {
  temporalAddress: string;
  namespace: string;
  temporalHttpApi: string;
  temporalUi: string | null;
  serverMetrics: string;
  pids: { server?: number; postgres?: number; ui?: number };
}

export interface Proc {
  child: ChildProcess;
  logPath: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  log(): string;
}

function startProc(args: string[], logPath: string, env: NodeJS.ProcessEnv = process.env, stdoutPipe = false): Proc {
  const fd = openSync(logPath, 'a');
  const child = spawn(process.execPath, [PINROTATE, ...args], { cwd: ROOT, env, detached: true, stdio: ['ignore', stdoutPipe ? 'pipe' : fd, fd] });
  closeSync(fd);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    }),
  );
  return { child, logPath, exited, isRunning: () => running, log: () => readFileSync(logPath, 'utf8') };
}

/** SIGKILLs the process group: the command and everything it started (server, postmaster, backends, UI). */
export async function killGroup(p: Proc): Promise<void> {
  if (!p.child.pid) return;
  try {
    process.kill(-p.child.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  await p.exited;
}

/** Starts `pinrotate cluster start`; `ready` resolves with the addresses it prints, or rejects when it exits first. */
export function startClusterProcess(dataDir: string, port: number, logPath: string): { proc: Proc; ready: Promise<ClusterInfo> } {
  const proc = startProc(['cluster', 'start', '--data-dir', dataDir, '--port', String(port), '--json'], logPath, process.env, true);
  let out = '';
  const ready = new Promise<ClusterInfo>((resolve, reject) => {
    proc.child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as ClusterInfo);
    });
    void proc.exited.then(({ code }) => reject(new Error(`pinrotate cluster start exited with ${code}:\n${proc.log().slice(-3000)}`)));
  });
  return { proc, ready };
}

export async function startWorkerProcess(envFile: string, logPath: string): Promise<Proc> {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_OPTIONS: '--max-old-space-size=256' };
  const proc = startProc(['worker', '--env-file', envFile], logPath, env);
  await waitFor(
    async () => {
      if (!proc.isRunning()) throw new Error(`worker exited:\n${proc.log().slice(-3000)}`);
      return proc.log().includes('"msg":"worker started"');
    },
    `worker ${envFile} started`,
    180_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${proc.log().slice(-2000)}`);
  });
  return proc;
}

export function prometheusBinary(): string | undefined {
  const res = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : undefined;
}

export interface Prometheus {
  url: string;
  proc: ChildProcess;
  /** Metric names Prometheus has stored, per scrape job. */
  names(job: string): Promise<string[]>;
  /** Scrape targets that answered the last scrape. */
  upTargets(): Promise<string[]>;
  stop(): Promise<void>;
}

/** A real Prometheus scraping `jobs` (name → list of http://host:port/metrics) every second. */
export async function startPrometheus(bin: string, dir: string, port: number, jobs: Record<string, string[]>): Promise<Prometheus> {
  const scrapeConfigs = Object.entries(jobs).map(([job, urls]) => ({
    job_name: job,
    scrape_interval: '1s',
    scrape_timeout: '900ms',
    metrics_path: '/metrics',
    static_configs: [{ targets: urls.map((u) => new URL(u).host) }],
  }));
  // JSON is YAML.
  const configPath = join(dir, 'prometheus.yml');
  writeFileSync(configPath, JSON.stringify({ global: { scrape_interval: '1s' }, scrape_configs: scrapeConfigs }));
  const logPath = join(dir, 'prometheus.log');
  const fd = openSync(logPath, 'a');
  const proc = spawn(bin, [`--config.file=${configPath}`, `--storage.tsdb.path=${join(dir, 'prom-data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, `Prometheus on ${url}`, 60_000, 250);
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${JSON.stringify(body).slice(0, 300)}`);
    return body.data;
  };
  return {
    url,
    proc,
    names: (job) => api<string[]>(`/api/v1/label/__name__/values?match[]=${encodeURIComponent(`{job="${job}"}`)}`),
    async upTargets() {
      const data = await api<{ activeTargets: Array<{ scrapeUrl: string; health: string }> }>('/api/v1/targets');
      return data.activeTargets.filter((t) => t.health === 'up').map((t) => t.scrapeUrl);
    },
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

import { spawn } from 'node:child_process';

export type ProgressFn = (message: string) => void;

/**
 * `go install -v MODULES` into `gobin`, reporting progress every 5 s from the packages it compiles (an estimate
 * against `approxPackages`). Resolves with the exit code and the last lines of output, for the error message.
 */
export async function goInstall(
  modules: readonly string[],
  opts: { gobin: string; approxPackages: number; what: string; progress: ProgressFn; env: NodeJS.ProcessEnv },
): Promise<{ code: number; tail: string[] }> {
  const started = Date.now();
  const child = spawn('go', ['install', '-v', ...modules], {
    env: { ...opts.env, GOBIN: opts.gobin, GOFLAGS: [opts.env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' ') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let compiled = 0;
  let downloads = 0;
  let lastReport = 0;
  const tail: string[] = [];
  const onLine = (line: string): void => {
    if (!line.trim()) return;
    tail.push(line);
    if (tail.length > 30) tail.shift();
    if (line.startsWith('go: downloading')) downloads += 1;
    else if (!line.startsWith('go:') && !line.includes(' ')) compiled += 1;
    const now = Date.now();
    if (now - lastReport > 5000) {
      lastReport = now;
      const pct = Math.min(99, Math.round((compiled / opts.approxPackages) * 100));
      opts.progress(`go install: ${downloads} modules downloaded, ${compiled} packages compiled (~${pct}%), ${Math.round((now - started) / 1000)}s`);
    }
  };
  let buffered = '';
  const collect = (chunk: Buffer): void => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    lines.forEach(onLine);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const code: number = await new Promise((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`cannot run go (install a Go toolchain to build ${opts.what}): ${err.message}`)));
    child.on('close', (status) => resolve(status ?? 1));
  });
  return { code, tail };
}

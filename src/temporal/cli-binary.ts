import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { goInstall } from './go-install';

/**
 * Finds (or builds) the Temporal CLI, which carries the dev server and the Web UI (DESIGN.md §8).
 * Order: TEMPORAL_CLI_PATH, `temporal` on PATH, the per-user cache, `go install` into that cache.
 * When none works the caller may fall back to the SDK's own download (`undefined`).
 */

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
// Later tags carry replace directives in go.mod and cannot be `go install`ed.
export const TEMPORAL_CLI_MODULE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;
// Roughly how many packages `go install -v` compiles for this version (for the progress line only).
const APPROX_PACKAGES = 1300;

export type { ProgressFn } from './go-install';
import type { ProgressFn } from './go-install';

export interface FoundCli {
  path: string;
  source: 'env' | 'path' | 'cache' | 'built';
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'genesys-pin-rotation');
}

export function cachedCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Looks without building: env var, PATH, cache. */
export function locateTemporalCli(env: NodeJS.ProcessEnv = process.env): FoundCli | undefined {
  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    }
    return { path: fromEnv, source: 'env' };
  }
  const fromPath = onPath('temporal', env);
  if (fromPath) return { path: fromPath, source: 'path' };
  const cached = cachedCliPath(env);
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

function goAvailable(env: NodeJS.ProcessEnv): boolean {
  const probe = spawnSync('go', ['version'], { env, stdio: 'ignore' });
  return probe.status === 0;
}

/**
 * Builds the CLI with `go install` into a staging directory, then moves it into the cache atomically so a
 * build killed half way never leaves a broken binary behind. Prints progress as packages compile.
 */
export async function buildTemporalCli(progress: ProgressFn, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const target = cachedCliPath(env);
  const staging = join(cacheDir(env), `staging-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  progress(`building the Temporal CLI from ${TEMPORAL_CLI_MODULE} (first run only; takes a few minutes)`);
  const started = Date.now();
  const { code, tail } = await goInstall([TEMPORAL_CLI_MODULE], { gobin: staging, approxPackages: APPROX_PACKAGES, what: 'the Temporal CLI', progress, env });
  const built = join(staging, 'temporal');
  if (code !== 0 || !existsSync(built)) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`go install ${TEMPORAL_CLI_MODULE} failed (exit ${code}):\n${tail.join('\n')}`);
  }
  mkdirSync(join(target, '..'), { recursive: true });
  renameSync(built, target);
  rmSync(staging, { recursive: true, force: true });
  progress(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)}s and cached at ${target}`);
  return target;
}

/**
 * Returns the path of a Temporal CLI, building it when needed; `undefined` means no Go toolchain either,
 * so the caller should let the SDK download its own binary (which needs network access).
 */
export async function ensureTemporalCli(progress: ProgressFn, env: NodeJS.ProcessEnv = process.env): Promise<FoundCli | undefined> {
  const found = locateTemporalCli(env);
  if (found) return found;
  if (!goAvailable(env)) {
    progress('no Temporal CLI found and no Go toolchain: falling back to the SDK download');
    return undefined;
  }
  return { path: await buildTemporalCli(progress, env), source: 'built' };
}

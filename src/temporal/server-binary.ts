import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, type ProgressFn } from './cli-binary';
import { goInstall } from './go-install';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from './versions';

/**
 * Finds (or builds) the native cluster's binaries (DESIGN.md §8): the Temporal server and its SQL schema tool
 * (`go.temporal.io/server`, whose sql tool carries the schemas embedded) and the Web UI server
 * (`github.com/temporalio/ui-server/v2`, the UI the CLI embeds, assets included in the module). Each is looked
 * up in its environment variable, then in the per-user cache, else built once with `go install` into a staging
 * directory and moved into the cache, so a build killed half way never leaves a broken binary behind.
 */

interface Tool {
  /** The cached file name. */
  name: string;
  /** The package `go install` builds, and the file name it writes to GOBIN. */
  pkg: string;
  goName: string;
  envVar: string;
}

interface Bundle {
  label: string;
  dir: string;
  version: string;
  tools: Tool[];
  /** Roughly how many packages `go install -v` compiles (for the progress line only). */
  approxPackages: number;
}

const SERVER_BUNDLE: Bundle = {
  label: 'the Temporal server and SQL schema tool',
  dir: `temporal-server-${TEMPORAL_SERVER_VERSION}`,
  version: TEMPORAL_SERVER_VERSION,
  approxPackages: 1100,
  tools: [
    { name: 'temporal-server', pkg: 'go.temporal.io/server/cmd/server', goName: 'server', envVar: 'TEMPORAL_SERVER_PATH' },
    { name: 'temporal-sql-tool', pkg: 'go.temporal.io/server/cmd/tools/sql', goName: 'sql', envVar: 'TEMPORAL_SQL_TOOL_PATH' },
  ],
};

const UI_BUNDLE: Bundle = {
  label: 'the Temporal Web UI server',
  dir: `temporal-ui-server-${TEMPORAL_UI_VERSION}`,
  version: TEMPORAL_UI_VERSION,
  approxPackages: 350,
  tools: [{ name: 'temporal-ui-server', pkg: 'github.com/temporalio/ui-server/v2/cmd/server', goName: 'server', envVar: 'TEMPORAL_UI_SERVER_PATH' }],
};

export interface ServerBinaries {
  server: string;
  sqlTool: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function cachedBinaryPath(bundle: 'server' | 'sql' | 'ui', env: NodeJS.ProcessEnv = process.env): string {
  const b = bundle === 'ui' ? UI_BUNDLE : SERVER_BUNDLE;
  const tool = bundle === 'sql' ? b.tools[1] : b.tools[0];
  return join(cacheDir(env), b.dir, tool.name);
}

/** Looks without building: the tool's environment variable, then the cache. */
function locate(bundle: Bundle, env: NodeJS.ProcessEnv): string[] | undefined {
  const paths: string[] = [];
  for (const tool of bundle.tools) {
    const fromEnv = env[tool.envVar];
    if (fromEnv) {
      if (!isExecutable(fromEnv)) throw new Error(`${tool.envVar}=${fromEnv} is not an executable file`);
      paths.push(fromEnv);
      continue;
    }
    const cached = join(cacheDir(env), bundle.dir, tool.name);
    if (!isExecutable(cached)) return undefined;
    paths.push(cached);
  }
  return paths;
}

async function build(bundle: Bundle, progress: ProgressFn, env: NodeJS.ProcessEnv): Promise<string[]> {
  const staging = join(cacheDir(env), `staging-${bundle.dir}-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const modules = bundle.tools.map((t) => `${t.pkg}@${bundle.version}`);
  progress(`building ${bundle.label} (${modules.join(', ')}; first run only, takes a few minutes)`);
  const started = Date.now();
  const { code, tail } = await goInstall(modules, { gobin: staging, approxPackages: bundle.approxPackages, what: bundle.label, progress, env });
  const built = bundle.tools.map((t) => join(staging, t.goName));
  if (code !== 0 || built.some((p) => !existsSync(p))) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`go install ${modules.join(' ')} failed (exit ${code}):\n${tail.join('\n')}`);
  }
  const targetDir = join(cacheDir(env), bundle.dir);
  mkdirSync(targetDir, { recursive: true });
  // Each rename is atomic; the first tool (the one `locate` checks first) goes last.
  const targets = bundle.tools.map((t) => join(targetDir, t.name));
  for (let i = bundle.tools.length - 1; i >= 0; i -= 1) renameSync(built[i], targets[i]);
  rmSync(staging, { recursive: true, force: true });
  progress(`${bundle.label} built in ${Math.round((Date.now() - started) / 1000)}s and cached in ${targetDir}`);
  return targets;
}

/** The server and the schema tool, built once per machine and version. */
export async function ensureServerBinaries(progress: ProgressFn, env: NodeJS.ProcessEnv = process.env): Promise<ServerBinaries> {
  const [server, sqlTool] = locate(SERVER_BUNDLE, env) ?? (await build(SERVER_BUNDLE, progress, env));
  return { server, sqlTool };
}

/** The Web UI server, built once per machine and version. */
export async function ensureUiServerBinary(progress: ProgressFn, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const [ui] = locate(UI_BUNDLE, env) ?? (await build(UI_BUNDLE, progress, env));
  return ui;
}

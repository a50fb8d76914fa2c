import { readEnvFile } from '../../config/env-file';
import { ConfigError, loadWorkerConfig } from '../../config/worker-config';
import { runWorker } from '../../worker';
import { parse } from '../usage';

const HELP = `usage: pinrotate worker [--env-file FILE]

Runs a rotation worker. Configuration comes from the environment, or from FILE (KEY=VALUE lines, e.g. the
worker.env that \`pinrotate dev --no-worker\` writes) with the environment taking precedence. See docs/configuration.md
for every variable.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { 'env-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let source: Record<string, string | undefined> = process.env;
  if (values['env-file']) {
    try {
      source = { ...readEnvFile(values['env-file']), ...process.env };
    } catch (err) {
      // readEnvFile's message names the file: "cannot read env file PATH: …".
      process.stderr.write(`pinrotate worker: ${err instanceof Error ? err.message : String(err)}\n`);
      return 2;
    }
  }
  let config;
  try {
    config = loadWorkerConfig(source);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pinrotate worker: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  await runWorker(config);
  return 0;
}

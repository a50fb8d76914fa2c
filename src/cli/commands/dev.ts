import { startStack } from '../stack';
import { intOption, parse } from '../usage';

const HELP = `usage: pinrotate dev [options]

Starts the Temporal dev server (SQLite in DATA_DIR, Web UI on), the platform emulator and a worker wired to
them, and runs until interrupted (Ctrl-C).

  --temporal-port N   Temporal gRPC port (default 7233)
  --ui-port N         Temporal Web UI port (default 8233)
  --http-port N       Temporal HTTP API port (default 7243): signal, query and update rotations with curl
  --emulator-port N   platform emulator HTTP port (default 8787; mTLS check endpoint on N+1)
  --metrics-port N    worker Prometheus metrics port (default 9464; 0 disables)
  --data-dir DIR      state directory (default .pinrotate-dev)
  --no-worker         no worker in this process; run \`pinrotate worker --env-file DATA_DIR/worker.env\`

EMULATOR_ADMIN_TOKEN, when set, is the emulator's control-plane token.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    'temporal-port': { type: 'string' },
    'ui-port': { type: 'string' },
    'http-port': { type: 'string' },
    'emulator-port': { type: 'string' },
    'metrics-port': { type: 'string' },
    'data-dir': { type: 'string' },
    'no-worker': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const emulatorPort = intOption(values['emulator-port'], 'emulator-port', 8787, 1, 65534);
  const metricsPort = intOption(values['metrics-port'], 'metrics-port', 9464);
  const progress = (m: string): void => {
    process.stderr.write(`[dev] ${m}\n`);
  };
  const stack = await startStack({
    dataDir: values['data-dir'] ?? '.pinrotate-dev',
    temporalPort: intOption(values['temporal-port'], 'temporal-port', 7233, 1),
    uiPort: intOption(values['ui-port'], 'ui-port', 8233, 1),
    httpPort: intOption(values['http-port'], 'http-port', 7243, 1),
    emulatorPort,
    mtlsPort: emulatorPort + 1,
    metricsPort: metricsPort || undefined,
    persist: true,
    withWorker: !values['no-worker'],
    progress,
  });
  const summary = {
    temporalAddress: stack.devServer.address,
    temporalUi: stack.devServer.uiUrl,
    temporalHttpApi: stack.devServer.httpUrl,
    emulatorUrl: stack.emulator.url,
    emulatorMtlsUrl: stack.emulator.mtlsUrl,
    emulatorAdminToken: stack.emulator.adminToken,
    workerEnvFile: stack.workerEnvPath,
    worker: stack.worker ? 'running in this process' : 'not started (--no-worker)',
    metrics: metricsPort && stack.worker ? `http://127.0.0.1:${metricsPort}/metrics` : null,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(
      [
        'pinrotate dev is up:',
        `  Temporal        ${summary.temporalAddress}  (UI ${summary.temporalUi}, HTTP API ${summary.temporalHttpApi})`,
        `  emulator        ${summary.emulatorUrl}  (mTLS ${summary.emulatorMtlsUrl})`,
        `  admin token     ${summary.emulatorAdminToken}  (header X-Admin-Token)`,
        `  worker.env      ${summary.workerEnvFile}`,
        `  worker          ${summary.worker}`,
        ...(summary.metrics ? [`  metrics         ${summary.metrics}`] : []),
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    stack.workerRun?.catch((err) => {
      process.stderr.write(`[dev] worker stopped: ${err instanceof Error ? err.message : String(err)}\n`);
      resolve();
    });
  });
  progress('stopping…');
  await stack.stop();
  return 0;
}

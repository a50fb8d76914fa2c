import { hasSavedState, startStack } from '../stack';
import { safeJson, safeText } from '../output';
import { intOption, parse, UsageError } from '../usage';

const HELP = `usage: pinrotate dev [options]

Starts the Temporal dev server (SQLite in DATA_DIR, Web UI on), the platform emulator and a worker wired to
them, and runs until interrupted (Ctrl-C). Everything a restart needs stays in DATA_DIR: Temporal's history, the
emulator's CA, clients and admin token, the worker's credentials. Started again on the same DATA_DIR, running
rotations carry on.

  --data-dir DIR              state directory (default .pinrotate-dev; owner-only)
  --temporal-port N           Temporal gRPC port (default 7233)
  --ui-port N                 Temporal Web UI port (default 8233)
  --http-port N               Temporal HTTP API port (default 7243): signal, query and update rotations with curl
  --emulator-port N           platform emulator HTTP port (default: the saved one, else 8787)
  --mtls-port N               emulator mTLS check endpoint (default: the saved one, else emulator port + 1)
  --metrics-port N            worker Prometheus metrics port (default 9464; 0 disables)
  --temporal-address HOST:PORT
                              use this Temporal (e.g. \`pinrotate cluster start\`) instead of a dev server;
                              registers the search attributes when missing
  --namespace NS              Temporal namespace (default default)
  --no-worker                 no worker in this process; run \`pinrotate worker --env-file DATA_DIR/worker.env\`
  --json                      print the endpoints as one JSON line

The emulator's control-plane token is in DATA_DIR/emulator-admin-token (header X-Admin-Token); it is not printed.
EMULATOR_ADMIN_TOKEN, when set, is used instead. CERT_SOURCE_DIRS and PROBE_KEY_DIR default to
DATA_DIR/cert-sources and DATA_DIR/probe-keys (the environment overrides them).
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    'temporal-port': { type: 'string' },
    'ui-port': { type: 'string' },
    'http-port': { type: 'string' },
    'emulator-port': { type: 'string' },
    'mtls-port': { type: 'string' },
    'metrics-port': { type: 'string' },
    'data-dir': { type: 'string' },
    'temporal-address': { type: 'string' },
    namespace: { type: 'string' },
    'no-worker': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const address = values['temporal-address'];
  if (address !== undefined && !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(address)) throw new UsageError(`--temporal-address must be HOST:PORT (got "${address}")`);
  if (address) {
    for (const flag of ['temporal-port', 'ui-port', 'http-port'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} is for the dev server; it cannot go with --temporal-address`);
    }
  }
  const emulatorPort = values['emulator-port'] === undefined ? undefined : intOption(values['emulator-port'], 'emulator-port', 8787, 1, 65534);
  const mtlsPort = values['mtls-port'] === undefined ? (emulatorPort ? emulatorPort + 1 : undefined) : intOption(values['mtls-port'], 'mtls-port', 8788, 1);
  const metricsPort = intOption(values['metrics-port'], 'metrics-port', 9464);
  const dataDir = values['data-dir'] ?? '.pinrotate-dev';
  const progress = (m: string): void => {
    process.stderr.write(`[dev] ${safeText(m)}\n`);
  };
  if (hasSavedState(dataDir)) progress(`resuming the state in ${dataDir}`);
  const stack = await startStack({
    dataDir,
    temporalAddress: address,
    namespace: values.namespace,
    temporalPort: intOption(values['temporal-port'], 'temporal-port', 7233, 1),
    uiPort: intOption(values['ui-port'], 'ui-port', 8233, 1),
    httpPort: intOption(values['http-port'], 'http-port', 7243, 1),
    emulatorPort,
    mtlsPort,
    defaultEmulatorPorts: { port: 8787, mtlsPort: 8788 },
    metricsPort: metricsPort || undefined,
    persist: true,
    withWorker: !values['no-worker'],
    progress,
  });
  const summary = {
    temporalAddress: stack.temporal.address,
    namespace: stack.temporal.namespace,
    temporalUi: stack.temporal.uiUrl ?? null,
    temporalHttpApi: stack.temporal.httpUrl ?? null,
    emulatorUrl: stack.emulator.url,
    emulatorMtlsUrl: stack.emulator.mtlsUrl,
    emulatorAdminTokenFile: stack.adminTokenPath,
    workerEnvFile: stack.workerEnvPath,
    worker: stack.worker ? 'running in this process' : 'not started (--no-worker)',
    metrics: metricsPort && stack.worker ? `http://127.0.0.1:${metricsPort}/metrics` : null,
  };
  if (values.json) {
    process.stdout.write(`${safeJson(summary)}\n`);
  } else {
    const temporalLine = stack.devServer
      ? `${summary.temporalAddress}  (UI ${summary.temporalUi}, HTTP API ${summary.temporalHttpApi})`
      : `${summary.temporalAddress}  (namespace ${summary.namespace}; not started here)`;
    process.stdout.write(
      [
        'pinrotate dev is up:',
        `  Temporal        ${safeText(temporalLine)}`,
        `  emulator        ${safeText(summary.emulatorUrl)}  (mTLS ${safeText(summary.emulatorMtlsUrl)})`,
        `  admin token     in ${safeText(summary.emulatorAdminTokenFile)}  (header X-Admin-Token: "$(cat ${safeText(summary.emulatorAdminTokenFile)})")`,
        `  worker.env      ${safeText(summary.workerEnvFile)}`,
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
      process.stderr.write(`[dev] worker stopped: ${safeText(err instanceof Error ? err.message : String(err))}\n`);
      resolve();
    });
  });
  progress('stopping…');
  await stack.stop();
  return 0;
}

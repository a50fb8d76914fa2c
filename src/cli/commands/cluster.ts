import { startCluster } from '../../temporal/cluster';
import { intOption, parse, UsageError } from '../usage';

const HELP = `usage: pinrotate cluster start --data-dir DIR [options]

Runs a production-shaped Temporal cluster on this machine, without Docker: PostgreSQL from the OS packages
(initialised in DIR/postgres, as the \`postgres\` user when run as root), the Temporal server and its schema
tool (built once from go.temporal.io/server and cached), the repository's dynamic config, the namespace
\`default\` with the rotation's search attributes, and the Temporal Web UI. Runs until interrupted (Ctrl-C or
SIGTERM), then stops the UI, the server and PostgreSQL. Started again on the same DIR, after a crash too, it
resumes where it was.

  --data-dir DIR        cluster state: database, config, logs (required)
  --port N              frontend gRPC port (default 7233)
  --http-port N         frontend HTTP API port (default: last run's, else a free one)
  --ui-port N           Web UI port (default: last run's, else a free one; 0: no UI)
  --postgres-port N     PostgreSQL port on 127.0.0.1 (default: last run's, else a free one)
  --metrics-port N      the server's Prometheus endpoint (default: last run's, else a free one)
  --json                print the addresses as one JSON line when ready

Environment: TEMPORAL_SERVER_PATH, TEMPORAL_SQL_TOOL_PATH, TEMPORAL_UI_SERVER_PATH (prebuilt binaries),
PG_BIN_DIR (PostgreSQL's bin directory), PINROTATE_POSTGRES_USER (default postgres).
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      'http-port': { type: 'string' },
      'ui-port': { type: 'string' },
      'postgres-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'start') throw new UsageError(`expected \`cluster start\`, got "${positionals.join(' ')}"\n\n${HELP}`);
  if (!values['data-dir']) throw new UsageError('--data-dir DIR is required');
  const progress = (m: string): void => void process.stderr.write(`[cluster] ${m}\n`);
  let stopping = false;
  const stopRequested = new Promise<string>((resolve) => {
    const stop = (signal: string): void => {
      stopping = true;
      resolve(signal);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const cluster = await startCluster({
    dataDir: values['data-dir'],
    port: intOption(values.port, 'port', 7233, 1),
    httpPort: intOption(values['http-port'], 'http-port', 0, 0) || undefined,
    uiPort: values['ui-port'] === undefined ? undefined : intOption(values['ui-port'], 'ui-port', 0, 0),
    postgresPort: intOption(values['postgres-port'], 'postgres-port', 0, 0) || undefined,
    metricsPort: intOption(values['metrics-port'], 'metrics-port', 0, 0) || undefined,
    progress,
  });
  const summary = {
    temporalAddress: cluster.address,
    namespace: cluster.namespace,
    temporalHttpApi: cluster.httpUrl,
    temporalUi: cluster.uiUrl ?? null,
    serverMetrics: cluster.metricsUrl,
    postgres: `127.0.0.1:${cluster.postgresPort}`,
    dataDir: cluster.dataDir,
    pids: cluster.pids,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(
      [
        'pinrotate cluster is up:',
        `  Temporal frontend  ${summary.temporalAddress}  (namespace ${summary.namespace}, HTTP API ${summary.temporalHttpApi})`,
        ...(summary.temporalUi ? [`  Web UI             ${summary.temporalUi}`] : []),
        `  server metrics     ${summary.serverMetrics}`,
        `  PostgreSQL         ${summary.postgres}  (data in ${summary.dataDir})`,
        `Workers: TEMPORAL_ADDRESS=${summary.temporalAddress} pinrotate worker --env-file worker.env`,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }
  const reason = await Promise.race([stopRequested, cluster.exited.then((name) => `${name} exited`)]);
  progress(`${stopping ? `${reason}: ` : `${reason} unexpectedly; `}stopping…`);
  await cluster.stop();
  progress('stopped');
  return stopping ? 0 : 1;
}

import { parseDuration } from '../../pins/duration';
import { connectClient } from '../../starter';
import { parseClientsFile } from '../../fleet/clients-file';
import { WorkflowNotFoundError } from '@temporalio/common';
import { FleetAlreadyRunningError, queryProgress, startFleet, waitForFleet } from '../../fleet/client';
import { progressLine, ProgressReporter, summaryJson, summaryTable } from '../../fleet/render';
import type { fleetRotation } from '../../workflows/fleet';
import {
  CERT_SOURCE_PATTERN,
  DEFAULT_FLEET_OVERLAP,
  FINALIZE_POLICIES,
  FLEET_ID_PREFIX,
  type FinalizePolicy,
  type FleetProgress,
  FLEET_NAME_PATTERN,
  fleetSucceeded,
  fleetWorkflowId,
  MAX_CONCURRENCY,
  type FleetInput,
} from '../../contract';
import { processIo, readFileBounded, type CommandIo } from '../io';
import { intOption, parse, temporalOptions, temporalTarget, UsageError } from '../usage';

const HELP = `usage: pinrotate fleet [--clients FILE | --all [--prefix P]] --concurrency N [options]
       pinrotate fleet status|watch|cancel --fleet ID [--json]

Rotates many clients, each in its own rotation workflow (pin-rotation-{clientId}), at most N at a time.

  --clients FILE          one client id per line (# comments, blank lines ignored), or a JSON array of ids
                          and {"clientId","certSource"?,"serviceId"?} objects
  --all                   every client on the platform (the default): only active, mTLS-required clients
                          are rotated, the others are counted as skipped
  --prefix P              with --all: only clients whose id starts with P
  --concurrency N         at most N rotations in flight (1-${MAX_CONCURRENCY}; required)
  --cert-source SRC       where each new certificate comes from, on the worker (required unless every
                          client in FILE names its own): file:PATH, https://URL or emulator-ca
  --overlap D             each rotation's overlap (default ${DEFAULT_FLEET_OVERLAP}). A rotation holds its slot only until its
                          pins are live; the fleet then follows it through its overlap, drain and finalize.
  --finalize-policy P     each rotation's: drain (default) or time; see \`pinrotate rotate --help\`
  --drain-quiet D         each rotation's drainQuiet (default 1h)
  --max-overlap D         each rotation's maxOverlap (default 30d)
  --service-id S          service name reported to the PKI manager (default: each client's id)
  --fleet-id NAME         the fleet's workflow id is pin-fleet-NAME (default: the start time)
  --dry-run               plan every rotation, change nothing
  --wait                  follow the fleet: a progress line on stderr (going live, live, finalized, estimate),
                          then a summary

Following a fleet started without --wait (ID: the name given to --fleet-id, or the whole pin-fleet-… id):
  status --fleet ID       print its progress once (exit 0 while running or when it succeeded)
  watch --fleet ID        follow it like --wait until it ends
  cancel --fleet ID       cancel it: children still going live, in overlap or draining are cancelled and each
                          restores its client's previous pins
  --json                  print the summary (or, without --wait, the fleet id) as one JSON object
  --address HOST:PORT     Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
  --namespace NS          (default $TEMPORAL_NAMESPACE or default)
  --task-queue Q          (default $TEMPORAL_TASK_QUEUE or pin-rotation)

Exit codes: 0 started (without --wait), or every client finalized, rotated or was skipped as inactive or
mTLS-off; 1 anything else (failed, rolled back, refused, already running, fleet cancelled); 2 usage.
`;

const MAX_CLIENTS_FILE_BYTES = 8 * 1024 * 1024;

/** `20250102T030405.678Z`: sortable, unique enough for one operator, valid in a workflow id. */
function defaultFleetName(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '');
}

async function readClients(path: string): Promise<NonNullable<FleetInput['clients']>> {
  const read = await readFileBounded(path, MAX_CLIENTS_FILE_BYTES);
  if (read.tooLarge) throw new UsageError(`${path} is larger than ${MAX_CLIENTS_FILE_BYTES} bytes`);
  const { clients, problems } = parseClientsFile(read.bytes.toString('utf8'));
  if (problems.length > 0) {
    const shown = problems.slice(0, 50).map((p) => `  ${path}: ${p}`);
    if (problems.length > shown.length) shown.push(`  … and ${problems.length - shown.length} more`);
    throw new UsageError(`${problems.length} problem(s) in the clients file; nothing was started:\n${shown.join('\n')}`);
  }
  if (clients.length === 0) throw new UsageError(`${path} lists no clients`);
  return clients;
}

function fleetIdOf(raw: string | undefined): string {
  if (!raw) throw new UsageError('--fleet ID is required');
  const name = raw.startsWith(FLEET_ID_PREFIX) ? raw.slice(FLEET_ID_PREFIX.length) : raw;
  if (!FLEET_NAME_PATTERN.test(name)) throw new UsageError('--fleet must be a fleet name or its pin-fleet-… workflow id');
  return fleetWorkflowId(name);
}

/** `fleet status|watch|cancel --fleet ID`: follow or stop a fleet by its id (the latest run, across continue-as-new). */
async function follow(sub: 'status' | 'watch' | 'cancel', argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, { ...temporalOptions, fleet: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const workflowId = fleetIdOf(values.fleet);
  const json = Boolean(values.json);
  const client = await connectClient(temporalTarget(values));
  try {
    const handle = client.workflow.getHandle<typeof fleetRotation>(workflowId);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      if (json) io.stdout.write(`${JSON.stringify({ fleetId: workflowId, error: { code: 'NOT_FOUND', message: `no fleet ${workflowId}` } })}\n`);
      io.stderr.write(`pinrotate: no fleet ${workflowId}\n`);
      return 1;
    }
    const running = description.status.name === 'RUNNING';
    if (sub === 'cancel') {
      if (!running) {
        io.stderr.write(`pinrotate: fleet ${workflowId} is not running (${description.status.name})\n`);
        if (json) io.stdout.write(`${JSON.stringify({ fleetId: workflowId, cancelled: false, workflowStatus: description.status.name })}\n`);
        return 1;
      }
      await handle.cancel();
      if (json) io.stdout.write(`${JSON.stringify({ fleetId: workflowId, cancelled: true })}\n`);
      else io.stdout.write(`cancellation of ${workflowId} requested: children in flight and followed are cancelled and restore their clients\n`);
      return 0;
    }
    if (sub === 'status' || !running) {
      let progress: FleetProgress;
      try {
        progress = await queryProgress(handle);
      } catch (err) {
        io.stderr.write(`pinrotate: fleet ${workflowId} (${description.status.name}) did not answer its progress query: ${err instanceof Error ? err.message : String(err)}\n`);
        return 1;
      }
      if (json) io.stdout.write(`${JSON.stringify({ ...progress, workflowStatus: description.status.name })}\n`);
      else io.stdout.write(`${workflowId} (${description.status.name}): ${progressLine(progress)}\n`);
      if (running) return 0;
      return description.status.name === 'COMPLETED' && fleetSucceeded(progress) ? 0 : 1;
    }
    const reporter = new ProgressReporter((chunk) => io.stderr.write(chunk), io === processIo && Boolean(process.stderr.isTTY));
    const outcome = await waitForFleet(handle, { onProgress: (p) => reporter.update(p) });
    if (outcome.summary) reporter.update(outcome.summary);
    reporter.end();
    if (!outcome.summary) {
      io.stderr.write(`pinrotate: fleet ${workflowId} ended ${outcome.end}${outcome.error ? `: ${outcome.error}` : ''}\n`);
      return 1;
    }
    if (json) io.stdout.write(`${JSON.stringify(summaryJson(outcome.summary, outcome.end, outcome.error))}\n`);
    else io.stdout.write(summaryTable(outcome.summary, outcome.end, outcome.error));
    return outcome.end === 'completed' && fleetSucceeded(outcome.summary) ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  const sub = argv[0];
  if (sub === 'status' || sub === 'watch' || sub === 'cancel') return follow(sub, argv.slice(1), io);
  const { values } = parse(argv, {
    ...temporalOptions,
    clients: { type: 'string' },
    all: { type: 'boolean' },
    prefix: { type: 'string' },
    concurrency: { type: 'string' },
    'cert-source': { type: 'string' },
    overlap: { type: 'string' },
    'finalize-policy': { type: 'string' },
    'drain-quiet': { type: 'string' },
    'max-overlap': { type: 'string' },
    'service-id': { type: 'string' },
    'fleet-id': { type: 'string' },
    'dry-run': { type: 'boolean' },
    wait: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (values.clients !== undefined && values.all) throw new UsageError('give either --clients FILE or --all, not both');
  if (values.prefix !== undefined && values.clients !== undefined) throw new UsageError('--prefix filters --all; it cannot be used with --clients');
  if (values.concurrency === undefined) throw new UsageError('--concurrency N is required: how many rotations may run at once');
  const concurrency = intOption(values.concurrency, 'concurrency', 1, 1, MAX_CONCURRENCY);
  const certSource = values['cert-source'];
  if (certSource !== undefined && !CERT_SOURCE_PATTERN.test(certSource)) throw new UsageError(`--cert-source must be file:PATH, https://URL or emulator-ca (got "${certSource.slice(0, 80)}")`);
  const overlap = values.overlap ?? DEFAULT_FLEET_OVERLAP;
  try {
    parseDuration(overlap);
  } catch {
    throw new UsageError(`--overlap must be a duration like 7d, 12h, 30m or 0s (got "${overlap}")`);
  }
  const policy = values['finalize-policy'];
  if (policy !== undefined && !FINALIZE_POLICIES.includes(policy as FinalizePolicy)) throw new UsageError(`--finalize-policy must be drain or time (got "${policy}")`);
  for (const flag of ['drain-quiet', 'max-overlap'] as const) {
    const v = values[flag];
    if (v === undefined) continue;
    try {
      parseDuration(v);
    } catch {
      throw new UsageError(`--${flag} must be a duration like 1h or 30d (got "${v}")`);
    }
  }
  const fleetName = values['fleet-id'] ?? defaultFleetName(new Date());
  if (!FLEET_NAME_PATTERN.test(fleetName)) throw new UsageError('--fleet-id must be 1-128 letters, digits, ".", "_", ":" or "-"');
  if (values['service-id'] !== undefined && values['service-id'].trim() === '') throw new UsageError('--service-id must not be empty');

  const input: FleetInput = {
    ...(values.clients !== undefined ? { clients: await readClients(values.clients) } : { all: true, ...(values.prefix ? { idPrefix: values.prefix } : {}) }),
    ...(certSource ? { certSource } : {}),
    concurrency,
    overlap,
    ...(policy ? { finalizePolicy: policy as FinalizePolicy } : {}),
    ...(values['drain-quiet'] ? { drainQuiet: values['drain-quiet'] } : {}),
    ...(values['max-overlap'] ? { maxOverlap: values['max-overlap'] } : {}),
    ...(values['service-id'] ? { serviceId: values['service-id'] } : {}),
    ...(values['dry-run'] ? { dryRun: true } : {}),
  };
  // No default source: a fleet takes certificates from where the operator says, never from a demo CA by accident.
  if (!certSource && (input.all || input.clients?.some((c) => !c.certSource))) throw new UsageError('--cert-source SRC is required (or a certSource for every client in --clients FILE)');
  const workflowId = fleetWorkflowId(fleetName);
  const json = Boolean(values.json);

  const target = temporalTarget(values);
  const client = await connectClient(target);
  try {
    let handle;
    try {
      handle = await startFleet(client, input, { taskQueue: target.taskQueue, workflowId });
    } catch (err) {
      if (!(err instanceof FleetAlreadyRunningError)) throw err;
      if (json) io.stdout.write(`${JSON.stringify({ fleetId: workflowId, end: 'refused', ok: false, error: { code: 'ALREADY_RUNNING', message: err.message } })}\n`);
      io.stderr.write(`pinrotate: ${err.message}\n`);
      return 1;
    }
    if (!values.wait) {
      if (json) io.stdout.write(`${JSON.stringify({ fleetId: handle.workflowId, runId: handle.firstExecutionRunId, status: 'started' })}\n`);
      else io.stdout.write(`${handle.workflowId}\n`);
      return 0;
    }
    io.stderr.write(`fleet ${handle.workflowId} started (${input.all ? `all clients${input.idPrefix ? ` with prefix ${input.idPrefix}` : ''}` : `${input.clients?.length} clients`}, concurrency ${concurrency}, overlap ${overlap})\n`);
    const reporter = new ProgressReporter((chunk) => io.stderr.write(chunk), io === processIo && Boolean(process.stderr.isTTY));
    const outcome = await waitForFleet(handle, { onProgress: (p) => reporter.update(p) });
    // The last poll may predate the end: show the final counts too.
    if (outcome.summary) reporter.update(outcome.summary);
    reporter.end();
    if (!outcome.summary) {
      const message = `fleet ${handle.workflowId} ended ${outcome.end}${outcome.error ? `: ${outcome.error}` : ''}`;
      if (json) io.stdout.write(`${JSON.stringify({ fleetId: handle.workflowId, end: outcome.end, ok: false, error: outcome.error ?? null })}\n`);
      io.stderr.write(`pinrotate: ${message}\n`);
      return 1;
    }
    if (json) io.stdout.write(`${JSON.stringify(summaryJson(outcome.summary, outcome.end, outcome.error))}\n`);
    else io.stdout.write(summaryTable(outcome.summary, outcome.end, outcome.error));
    return outcome.end === 'completed' && fleetSucceeded(outcome.summary) ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}

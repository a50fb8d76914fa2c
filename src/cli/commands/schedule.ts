import { resolve } from 'node:path';
import { describeSource } from '../../activities/cert-source';
import { parseDuration } from '../../pins/duration';
import {
  createRotationSchedule,
  deleteRotationSchedule,
  describeRotationSchedule,
  InvalidScheduleSpecError,
  listRotationSchedules,
  pauseRotationSchedule,
  RotationScheduleExistsError,
  RotationScheduleNotFoundError,
  RotationSchedulePausedError,
  specText,
  triggerRotationSchedule,
  unpauseRotationSchedule,
  updateRotationSchedule,
  type RotationScheduleChanges,
  type RotationScheduleDetails,
  type RotationScheduleView,
} from '../../schedules/client';
import { checkRotationScheduleOnWorker, type ScheduleCheckAnswer } from '../../schedules/check';
import { DEFAULT_OVERLAP, DEFAULT_RENEW_WITHIN, rotationScheduleId, type RotationScheduleSpec } from '../../contract';
import { connectClient } from '../../starter';
import { processIo, type CommandIo } from '../io';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';

const COMMON = `  --address HOST:PORT     Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
  --namespace NS          (default $TEMPORAL_NAMESPACE or default)
  --task-queue Q          task queue of the scheduled runs (default $TEMPORAL_TASK_QUEUE or pin-rotation)
  --json                  print JSON`;

const HELP = `usage: pinrotate schedule <subcommand> [options]

Temporal Schedules that rotate a client's pins when needed; one schedule per client, id
pin-rotation-schedule-{clientId}. Each run (workflow scheduledRotation) fetches the client, obtains the
source's certificate and rotates only when the deployed leaf expires within --renew-within or the source
holds a different leaf; otherwise it ends as a recorded no_op (an audit line). It starts the rotation as
pin-rotation-{clientId}: when one is already running (whoever started it) the run ends "skipped".

  create --client ID (--every 24h | --cron EXPR) --cert-source SRC [--service-id S] [--overlap 7d]
         [--renew-within 30d] [--paused] [--json]
  update --client ID [--every D | --cron EXPR] [--cert-source SRC] [--service-id S] [--overlap D]
         [--renew-within D] [--json]    changes an existing schedule; what is not given stays
  list [--json]
  describe --client ID [--json]     spec, state, next runs, recent runs and their outcome
  pause --client ID [--note TEXT]   a paused schedule is a change freeze: trigger refuses it
  unpause --client ID [--note TEXT]
  trigger --client ID [--force]     one run now (a rotation of the client already running still wins);
                                    refused while the schedule is paused unless --force
  delete --client ID                the schedule only; a rotation it started keeps running

Before create (and update with --cert-source) changes anything, a worker checks that the client exists,
is active and requires mTLS, and that the source answers with a certificate (workflow
checkRotationSchedule; an emulator-ca source issues one certificate for it). A refusal names the code
(CLIENT_NOT_FOUND, CLIENT_NOT_ACTIVE, MTLS_NOT_REQUIRED, SOURCE_UNREADABLE, PLATFORM_UNAVAILABLE,
CHECK_TIMED_OUT) and nothing is created or changed.

create:
  --every D               run every D (e.g. 24h, 12h, 1d12h; at least 1m)
  --cron EXPR             or on a cron expression (5-7 fields, UTC), e.g. "0 3 * * *"
  --cert-source SRC       where new certificates come from, read by the worker:
                            file:PATH     a PEM file on the worker (a relative PATH is made absolute here)
                            https://URL   a PKI endpoint answering PEM (put no credentials in the URL)
                            emulator-ca   the emulator's CA issues on demand (demos): a run rotates when the
                                          deployed leaf is missing or expires within --renew-within
  --renew-within D        rotate when the deployed leaf expires within D (default ${DEFAULT_RENEW_WITHIN})
  --overlap D             overlap of the rotations it starts (default ${DEFAULT_OVERLAP}; 0s finalizes at once)
  --service-id ID         service name reported to the PKI manager (default: the client id)
  --paused                create it paused
  --check-timeout D       how long to wait for a worker's check (default 60s)

${COMMON}

Exit codes: 0 done; 1 refused by the check, the schedule exists (create) or does not (others), or it is
paused (trigger without --force); 2 usage.
`;

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function requireClient(value: string | undefined): string {
  if (!value) throw new UsageError('--client ID is required');
  if (!CLIENT_ID.test(value)) throw new UsageError('--client must be 1-128 letters, digits, ".", "_" or "-"');
  return value;
}

function durationFlag(name: string, value: string | undefined, minMs = 0): void {
  if (value === undefined) return;
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new UsageError(`--${name} must be a duration like 7d, 12h, 30m or 0s (got "${value}")`);
  }
  if (ms < minMs) throw new UsageError(`--${name} must be at least ${minMs / 60_000}m`);
}

/**
 * The form of a cron expression (5-7 fields of cron characters, or an @-shortcut), checked here so that a typo is a
 * usage error before the worker's check runs; the server still judges the expression itself at create.
 */
function cronFlag(value: string | undefined): void {
  if (value === undefined) return;
  const text = value.trim();
  if (text === '') throw new UsageError('--cron needs an expression, e.g. "0 3 * * *"');
  const fields = text.split(/\s+/);
  const shortcut = /^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every\s.+)$/.test(text);
  if (!shortcut && (fields.length < 5 || fields.length > 7 || !fields.every((f) => /^[0-9A-Za-z*?,/#-]+$/.test(f)))) {
    throw new UsageError(`--cron must be a cron expression of 5-7 fields, e.g. "0 3 * * *" (got "${text}")`);
  }
}

/** Checks the source's form here, where a mistake is cheap; the worker reads it. */
function certSourceFlag(value: string | undefined): string {
  if (!value) throw new UsageError('--cert-source SRC is required (file:PATH, https://URL or emulator-ca)');
  try {
    const { kind, location } = describeSource(value);
    return kind === 'file' ? `file:${resolve(location)}` : value;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function line(io: CommandIo, json: boolean, value: unknown, text: string): void {
  if (json) io.stdout.write(`${JSON.stringify(value)}\n`);
  else io.stdout.write(`${text}\n`);
}

function fail(io: CommandIo, json: boolean, body: Record<string, unknown>, code: string, message: string): number {
  if (json) io.stdout.write(`${JSON.stringify({ ...body, error: { code, message } })}\n`);
  io.stderr.write(`pinrotate schedule: ${message}\n`);
  return 1;
}

function describeView(v: RotationScheduleView): string[] {
  return [
    `${v.scheduleId}: ${v.spec ? specText(v.spec) : 'custom spec'}, ${v.paused ? 'paused' : 'active'}${v.note ? ` (${v.note})` : ''}`,
    `  source ${v.certSource ?? '?'}, renew within ${v.renewWithin}, overlap ${v.overlap}, service ${v.serviceId}, task queue ${v.taskQueue ?? '?'}`,
    `  next runs: ${v.nextActionTimes.length ? v.nextActionTimes.slice(0, 3).join(', ') : '(none)'}`,
  ];
}

function describeDetails(d: RotationScheduleDetails): string {
  const lines = describeView(d);
  lines.push(`  runs taken: ${d.numActionsTaken}, skipped while one was running: ${d.numActionsSkippedOverlap}`);
  if (d.recentActions.length === 0) lines.push('  no runs yet');
  for (const a of d.recentActions) {
    const outcome = a.outcome ? `${a.outcome} (${a.code}): ${a.reason}` : a.workflowStatus.toLowerCase();
    lines.push(`  ${a.takenAt} ${a.workflowId}: ${outcome}`);
    if (a.rotation) lines.push(`    rotation ${a.rotation.workflowId} (run ${a.rotation.runId}): ${a.rotation.status ?? a.rotation.workflowStatus.toLowerCase()}`);
  }
  return lines.join('\n');
}

async function withClient<T>(values: { address?: string; namespace?: string; 'task-queue'?: string }, fn: (client: Awaited<ReturnType<typeof connectClient>>, taskQueue: string) => Promise<T>): Promise<T> {
  const target = temporalTarget(values);
  const client = await connectClient(target);
  try {
    return await fn(client, target.taskQueue);
  } finally {
    await client.connection.close();
  }
}

async function create(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    ...temporalOptions,
    client: { type: 'string' },
    every: { type: 'string' },
    cron: { type: 'string' },
    'cert-source': { type: 'string' },
    'service-id': { type: 'string' },
    overlap: { type: 'string' },
    'renew-within': { type: 'string' },
    paused: { type: 'boolean' },
    'check-timeout': { type: 'string' },
    json: { type: 'boolean' },
  });
  const clientId = requireClient(values.client);
  if ((values.every === undefined) === (values.cron === undefined)) throw new UsageError('give exactly one of --every D or --cron EXPR');
  durationFlag('every', values.every, 60_000);
  cronFlag(values.cron);
  durationFlag('overlap', values.overlap);
  durationFlag('renew-within', values['renew-within']);
  const certSource = certSourceFlag(values['cert-source']);
  const spec: RotationScheduleSpec = values.every !== undefined ? { every: values.every } : { cron: values.cron!.trim() };
  const json = Boolean(values.json);
  const checkTimeoutMs = checkTimeout(values['check-timeout']);
  return withClient(values, async (client, taskQueue) => {
    // Refused before anything exists: a schedule of a missing client or a dead source would only ever refuse.
    if (await exists(client, clientId)) return fail(io, json, { scheduleId: rotationScheduleId(clientId), clientId }, 'ALREADY_EXISTS', new RotationScheduleExistsError(rotationScheduleId(clientId)).message);
    const check = await checkRotationScheduleOnWorker(client, { clientId, certSource, taskQueue, timeoutMs: checkTimeoutMs });
    if (!check.ok) return refused(io, json, clientId, check);
    let details: RotationScheduleDetails;
    try {
      await createRotationSchedule(client, {
        clientId,
        certSource,
        spec,
        taskQueue,
        ...(values['service-id'] ? { serviceId: values['service-id'] } : {}),
        ...(values.overlap ? { overlap: values.overlap } : {}),
        ...(values['renew-within'] ? { renewWithin: values['renew-within'] } : {}),
        ...(values.paused ? { paused: true } : {}),
      });
      details = await describeRotationSchedule(client, clientId);
    } catch (err) {
      if (err instanceof RotationScheduleExistsError) return fail(io, json, { scheduleId: err.scheduleId, clientId }, 'ALREADY_EXISTS', err.message);
      if (err instanceof InvalidScheduleSpecError) throw new UsageError(`the schedule spec was refused: ${err.message}`);
      throw err;
    }
    const { recentActions: _recent, runningActions: _running, ...view } = details;
    line(io, json, { ...view, created: true }, `created ${describeView(view).join('\n')}`);
    return 0;
  });
}

function checkTimeout(value: string | undefined): number {
  if (value === undefined) return 60_000;
  durationFlag('check-timeout', value, 1000);
  return parseDuration(value);
}

async function exists(client: Awaited<ReturnType<typeof connectClient>>, clientId: string): Promise<boolean> {
  try {
    await describeRotationSchedule(client, clientId);
    return true;
  } catch (err) {
    if (err instanceof RotationScheduleNotFoundError) return false;
    throw err;
  }
}

/** A check that refused: its code and reason, exit 1, nothing created or changed. */
function refused(io: CommandIo, json: boolean, clientId: string, check: ScheduleCheckAnswer): number {
  const cause = 'cause' in check && check.cause ? ` [${check.cause}]` : '';
  return fail(io, json, { scheduleId: rotationScheduleId(clientId), clientId, created: false, check }, check.code, `refused (${check.code}): ${check.message}${cause}; nothing was created or changed`);
}

async function update(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    ...temporalOptions,
    client: { type: 'string' },
    every: { type: 'string' },
    cron: { type: 'string' },
    'cert-source': { type: 'string' },
    'service-id': { type: 'string' },
    overlap: { type: 'string' },
    'renew-within': { type: 'string' },
    'check-timeout': { type: 'string' },
    json: { type: 'boolean' },
  });
  const clientId = requireClient(values.client);
  if (values.every !== undefined && values.cron !== undefined) throw new UsageError('give at most one of --every D or --cron EXPR');
  durationFlag('every', values.every, 60_000);
  cronFlag(values.cron);
  durationFlag('overlap', values.overlap);
  durationFlag('renew-within', values['renew-within']);
  const changes: RotationScheduleChanges = {
    ...(values.every !== undefined ? { spec: { every: values.every } } : values.cron !== undefined ? { spec: { cron: values.cron.trim() } } : {}),
    ...(values['cert-source'] !== undefined ? { certSource: certSourceFlag(values['cert-source']) } : {}),
    ...(values['service-id'] ? { serviceId: values['service-id'] } : {}),
    ...(values.overlap ? { overlap: values.overlap } : {}),
    ...(values['renew-within'] ? { renewWithin: values['renew-within'] } : {}),
  };
  if (Object.keys(changes).length === 0) throw new UsageError('nothing to change: give --every, --cron, --cert-source, --service-id, --overlap or --renew-within');
  const json = Boolean(values.json);
  const checkTimeoutMs = checkTimeout(values['check-timeout']);
  const scheduleId = rotationScheduleId(clientId);
  return withClient(values, async (client, taskQueue) => {
    try {
      if (!(await exists(client, clientId))) throw new RotationScheduleNotFoundError(scheduleId);
      if (changes.certSource) {
        const check = await checkRotationScheduleOnWorker(client, { clientId, certSource: changes.certSource, taskQueue, timeoutMs: checkTimeoutMs });
        if (!check.ok) return refused(io, json, clientId, check);
      }
      const view = await updateRotationSchedule(client, clientId, changes);
      line(io, json, { ...view, updated: true }, `updated ${describeView(view).join('\n')}`);
      return 0;
    } catch (err) {
      if (err instanceof RotationScheduleNotFoundError) return fail(io, json, { scheduleId, clientId }, 'NOT_FOUND', `no schedule for client ${clientId} (${scheduleId})`);
      if (err instanceof InvalidScheduleSpecError) throw new UsageError(`the schedule spec was refused: ${err.message}`);
      throw err;
    }
  });
}

async function list(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, { ...temporalOptions, json: { type: 'boolean' } });
  return withClient(values, async (client) => {
    const schedules = await listRotationSchedules(client);
    const text = schedules.length ? schedules.flatMap(describeView).join('\n') : 'no rotation schedules';
    line(io, Boolean(values.json), { schedules }, text);
    return 0;
  });
}

type Action = 'describe' | 'pause' | 'unpause' | 'trigger' | 'delete';

async function onSchedule(action: Action, argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    ...temporalOptions,
    client: { type: 'string' },
    json: { type: 'boolean' },
    ...(action === 'pause' || action === 'unpause' ? { note: { type: 'string' as const } } : {}),
    ...(action === 'trigger' ? { force: { type: 'boolean' as const } } : {}),
  });
  const clientId = requireClient(values.client);
  const note = (values as { note?: string }).note;
  const force = Boolean((values as { force?: boolean }).force);
  const json = Boolean(values.json);
  const scheduleId = rotationScheduleId(clientId);
  return withClient(values, async (client) => {
    try {
      switch (action) {
        case 'describe': {
          const details = await describeRotationSchedule(client, clientId);
          line(io, json, details, describeDetails(details));
          return 0;
        }
        case 'pause':
          await pauseRotationSchedule(client, clientId, note);
          line(io, json, { scheduleId, clientId, paused: true }, `paused ${scheduleId}`);
          return 0;
        case 'unpause':
          await unpauseRotationSchedule(client, clientId, note);
          line(io, json, { scheduleId, clientId, paused: false }, `unpaused ${scheduleId}`);
          return 0;
        case 'trigger': {
          const { paused } = await triggerRotationSchedule(client, clientId, { force });
          // --force on a paused schedule is said in the answer: the freeze was overridden on purpose.
          line(io, json, { scheduleId, clientId, triggered: true, ...(paused ? { paused: true, forced: true } : {}) }, `triggered ${scheduleId}${paused ? ' (paused: forced)' : ''}; follow it with \`pinrotate schedule describe --client ${clientId}\``);
          return 0;
        }
        case 'delete':
          await deleteRotationSchedule(client, clientId);
          line(io, json, { scheduleId, clientId, deleted: true }, `deleted ${scheduleId} (a rotation it started keeps running: \`pinrotate status --client ${clientId}\`)`);
          return 0;
      }
    } catch (err) {
      if (err instanceof RotationScheduleNotFoundError) return fail(io, json, { scheduleId, clientId }, 'NOT_FOUND', `no schedule for client ${clientId} (${scheduleId})`);
      if (err instanceof RotationSchedulePausedError) return fail(io, json, { scheduleId, clientId, triggered: false, paused: true, note: err.note }, 'SCHEDULE_PAUSED', err.message);
      throw err;
    }
  });
}

const SUBCOMMANDS = ['create', 'update', 'list', 'describe', 'pause', 'unpause', 'trigger', 'delete'] as const;

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(HELP);
    return sub ? 0 : 2;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown subcommand "${sub}"; one of ${SUBCOMMANDS.join(', ')}`);
  if (sub === 'create') return create(rest, io);
  if (sub === 'update') return update(rest, io);
  if (sub === 'list') return list(rest, io);
  return onSchedule(sub as Action, rest, io);
}

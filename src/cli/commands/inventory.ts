import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { parseDuration } from '../../pins/duration';
import { connectClient } from '../../starter';
import { deleteInventorySchedule, ensureInventorySchedule } from '../../schedules/inventory';
import { temporalFleetView, type RotationRun, type ScheduleCoverage } from '../../schedules/visibility';
import {
  DEFAULT_INVENTORY_EVERY,
  DEFAULT_INVENTORY_PAGE_SIZE,
  INVENTORY_SCHEDULE_ID,
  INVENTORY_WORKFLOW_TYPE,
  inventoryClientsQuery,
  inventoryListWorkflowId,
  inventoryProgressQuery,
  MAX_INVENTORY_PAGE_SIZE,
  MAX_INVENTORY_QUERY_LIMIT,
  type InventoryClientEntry,
  type InventoryInput,
  type InventoryProgress,
  type InventoryResult,
} from '../../contract';
import { processIo, type CommandIo } from '../io';
import { intOption, parse, temporalOptions, temporalTarget, UsageError } from '../usage';

const TEMPORAL_FLAGS = `  --address HOST:PORT     Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
  --namespace NS          (default $TEMPORAL_NAMESPACE or default)
  --task-queue Q          task queue of the worker (default $TEMPORAL_TASK_QUEUE or pin-rotation)`;

const HELP = `usage: pinrotate inventory [--expiring-within D] [--json | --csv] [options]
       pinrotate inventory schedule [--every ${DEFAULT_INVENTORY_EVERY}] [--paused] [--delete] [--json]

Every client on the platform with its pins (role, subject, notAfter, days left), its running rotation or
the last outcome, and the schedule that covers it. The platform is read by a worker (this command has no
platform credentials): it runs the workflow pinInventory, which pages through the clients at the
platform's rate, and joins the answer with Temporal's rotations (search attributes ClientId and
RotationStatus) and rotation schedules (pin-rotation-schedule-{clientId}). A progress line goes to stderr
while a listing takes more than a second.

  --expiring-within D     only clients whose primary pin expires within D (e.g. 21d; 0s: already expired)
  --json                  one JSON object: {"takenAt","complete","total","clients":[…]}
  --csv                   one row per pin (a client without pins gets one row), RFC 4180 quoting
  --page-size N           clients per platform request (1-${MAX_INVENTORY_PAGE_SIZE}, default ${DEFAULT_INVENTORY_PAGE_SIZE})
  --timeout D             give up when the listing has not finished within D (default 10m)
${TEMPORAL_FLAGS}

schedule: creates or updates the Temporal Schedule ${INVENTORY_SCHEDULE_ID}, which runs the inventory every D
(default ${DEFAULT_INVENTORY_EVERY}, at least 1m) so the worker that runs it exports, for every client,
client_certificate_expiry_timestamp_seconds and the fleet's counts (awaiting approval, draining, failed in
the last day); the values stand for two intervals (docs/metrics.md). --paused creates or pauses it;
--delete removes it.

Exit codes: 0 listed; 1 the listing did not complete (the platform or Temporal failed, or --timeout); 2 usage.
`;

const DAY_MS = 86_400_000;

export interface InventoryRow {
  clientId: string;
  name: string;
  state: string;
  mtlsRequired: boolean;
  /** The primary pin's expiry and days left; null without a primary pin. */
  notAfter: string | null;
  daysLeft: number | null;
  pins: Array<InventoryClientEntry['pins'][number] & { daysLeft: number | null }>;
  /** The rotation running now. */
  rotation: { workflowId: string; runId: string; status: string | null; startedAt: string } | null;
  /** How the client's last rotation ended, when none is running. */
  lastOutcome: { workflowId: string; runId: string; status: string | null; executionStatus: string; closedAt: string | null } | null;
  schedule: { scheduleId: string; paused: boolean; note: string | null; nextRunAt: string | null } | null;
}

function daysLeft(notAfter: string, now: number): number | null {
  const ms = Date.parse(notAfter);
  return Number.isFinite(ms) ? Math.floor(((ms - now) / DAY_MS) * 10) / 10 : null;
}

/** Joins the platform's clients with Temporal's rotations and schedules. */
export function joinInventory(clients: InventoryClientEntry[], latest: Map<string, RotationRun>, schedules: ScheduleCoverage[], now: number): InventoryRow[] {
  const scheduleBy = new Map(schedules.map((s) => [s.clientId, s]));
  return clients
    .map((c) => {
      const pins = c.pins.map((p) => ({ ...p, daysLeft: daysLeft(p.notAfter, now) }));
      const primary = pins.find((p) => p.role === 'primary');
      const run = latest.get(c.id);
      const s = scheduleBy.get(c.id);
      return {
        clientId: c.id,
        name: c.name,
        state: c.state,
        mtlsRequired: c.mtlsRequired,
        notAfter: primary?.notAfter ?? null,
        daysLeft: primary?.daysLeft ?? null,
        pins,
        rotation: run && run.executionStatus === 'RUNNING' ? { workflowId: run.workflowId, runId: run.runId, status: run.status, startedAt: run.startedAt } : null,
        lastOutcome:
          run && run.executionStatus !== 'RUNNING'
            ? { workflowId: run.workflowId, runId: run.runId, status: run.status, executionStatus: run.executionStatus, closedAt: run.closedAt }
            : null,
        schedule: s ? { scheduleId: s.scheduleId, paused: s.paused, note: s.note, nextRunAt: s.nextRunAt } : null,
      };
    })
    .sort((a, b) => a.clientId.localeCompare(b.clientId));
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const clean = (v: unknown): string => String(v ?? '').replace(CONTROL, ' ');

function rotationText(r: InventoryRow): string {
  if (r.rotation) return `running (${clean(r.rotation.status ?? 'starting')})`;
  if (r.lastOutcome) return `last ${clean(r.lastOutcome.status ?? r.lastOutcome.executionStatus.toLowerCase())}`;
  return 'none';
}

function scheduleText(r: InventoryRow): string {
  if (!r.schedule) return 'none';
  if (r.schedule.paused) return `paused${r.schedule.note ? ` (${clean(r.schedule.note)})` : ''}`;
  return r.schedule.nextRunAt ? `next ${r.schedule.nextRunAt}` : 'active';
}

export function inventoryTable(rows: InventoryRow[]): string {
  const header = ['CLIENT', 'STATE', 'ROLE', 'SUBJECT', 'NOT AFTER', 'DAYS LEFT', 'ROTATION', 'SCHEDULE'];
  const lines: string[][] = [header];
  for (const r of rows) {
    const state = `${clean(r.state)}${r.mtlsRequired ? '' : ', mTLS off'}`;
    const pins = r.pins.length ? r.pins : [undefined];
    pins.forEach((p, i) => {
      const first = i === 0;
      lines.push([
        first ? clean(r.clientId) : '',
        first ? state : '',
        p ? p.role : '(no pins)',
        p ? clean(p.subject) : '',
        p ? clean(p.notAfter) : '',
        p && p.daysLeft !== null ? String(p.daysLeft) : '',
        first ? rotationText(r) : '',
        first ? scheduleText(r) : '',
      ]);
    });
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((cell, i) => (i === l.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function inventoryCsv(rows: InventoryRow[]): string {
  const header = ['clientId', 'name', 'state', 'mtlsRequired', 'role', 'subject', 'notAfter', 'daysLeft', 'serialNumber', 'rotationStatus', 'rotationWorkflowId', 'lastOutcome', 'scheduleId', 'schedulePaused', 'nextRunAt'];
  const out = [header.join(',')];
  for (const r of rows) {
    const pins = r.pins.length ? r.pins : [undefined];
    for (const p of pins) {
      out.push(
        [
          r.clientId,
          r.name,
          r.state,
          r.mtlsRequired,
          p?.role,
          p?.subject,
          p?.notAfter,
          p?.daysLeft,
          p?.serialNumber,
          r.rotation?.status,
          r.rotation?.workflowId ?? r.lastOutcome?.workflowId,
          r.lastOutcome ? (r.lastOutcome.status ?? r.lastOutcome.executionStatus.toLowerCase()) : '',
          r.schedule?.scheduleId,
          r.schedule ? r.schedule.paused : '',
          r.schedule?.nextRunAt,
        ]
          .map(csvCell)
          .join(','),
      );
    }
  }
  return `${out.join('\r\n')}\r\n`;
}

/** A progress line on stderr once a listing takes more than a second: rewritten in place on a terminal. */
class Progress {
  private wrote = false;
  private last = '';
  constructor(private readonly io: CommandIo, private readonly tty: boolean) {}
  show(p: InventoryProgress): void {
    const text = `inventory: page ${p.pagesRead} of ${p.pageCount ?? '?'}, ${p.scanned}${p.total !== null ? ` of ${p.total}` : ''} clients read`;
    if (text === this.last) return;
    this.last = text;
    this.io.stderr.write(this.tty ? `\r\x1b[2K${text}` : `${text}\n`);
    this.wrote = true;
  }
  end(): void {
    if (this.tty && this.wrote) this.io.stderr.write('\n');
  }
}

async function readClients(handle: WorkflowHandle): Promise<InventoryClientEntry[]> {
  const clients: InventoryClientEntry[] = [];
  for (;;) {
    const page = await handle.query(inventoryClientsQuery, { offset: clients.length, limit: MAX_INVENTORY_QUERY_LIMIT });
    clients.push(...page.clients);
    if (page.clients.length === 0 || clients.length >= page.total) return clients;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs the listing on a worker, following it with a progress line; the clients, or why it did not complete. */
async function listOnWorker(client: Client, taskQueue: string, input: InventoryInput, timeoutMs: number, io: CommandIo, tty: boolean) {
  const workflowId = inventoryListWorkflowId(`${new Date().toISOString().replace(/[-:]/g, '')}-${randomBytes(3).toString('hex')}`);
  const handle = await client.workflow.start(INVENTORY_WORKFLOW_TYPE, {
    workflowId,
    taskQueue,
    args: [input],
    // An abandoned listing (Ctrl-C, a worker down) ends on its own.
    workflowExecutionTimeout: timeoutMs + 60_000,
    staticSummary: 'Fleet inventory (listing for pinrotate inventory)',
  });
  const started = Date.now();
  const progress = new Progress(io, tty);
  let settled = false;
  const result = handle.result() as Promise<InventoryResult>;
  void result.finally(() => (settled = true)).catch(() => undefined);
  const follow = (async () => {
    while (!settled) {
      await sleep(500);
      if (settled || Date.now() - started < 1000) continue;
      try {
        progress.show(await handle.query(inventoryProgressQuery));
      } catch {
        // No worker answered the query yet: the deadline below decides.
      }
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  try {
    let outcome: InventoryResult | 'timeout';
    try {
      outcome = await Promise.race([result, deadline]);
    } catch (err) {
      // The workflow itself failed (e.g. input it refused): said, with its reason, never a stack trace.
      const cause = err instanceof WorkflowFailedError ? err.cause : err;
      return { workflowId, error: { code: (cause as { type?: string })?.type ?? 'FAILED', message: cause instanceof Error ? cause.message : String(cause) } };
    }
    if (outcome === 'timeout') {
      await handle.cancel().catch(() => undefined);
      return { workflowId, error: { code: 'TIMEOUT', message: `the inventory did not finish within ${timeoutMs / 1000}s; is a worker polling task queue ${taskQueue}?` } };
    }
    if (!outcome.complete) return { workflowId, result: outcome, error: outcome.progress.error ?? { code: 'INCOMPLETE', message: 'the inventory did not complete' } };
    return { workflowId, result: outcome, clients: await readClients(handle) };
  } finally {
    settled = true;
    clearTimeout(timer);
    await follow;
    progress.end();
  }
}

function durationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value);
  } catch {
    throw new UsageError(`--${name} must be a duration like 21d, 12h or 30m (got "${value}")`);
  }
}

async function withClient<T>(values: { address?: string; namespace?: string; 'task-queue'?: string }, fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  const target = temporalTarget(values);
  const client = await connectClient(target);
  try {
    return await fn(client, target.taskQueue);
  } finally {
    await client.connection.close();
  }
}

async function schedule(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, { ...temporalOptions, every: { type: 'string' }, paused: { type: 'boolean' }, delete: { type: 'boolean' }, json: { type: 'boolean' } });
  const everyMs = durationFlag('every', values.every);
  if (everyMs !== undefined && everyMs < 60_000) throw new UsageError('--every must be at least 1m');
  if (values.delete && (values.every !== undefined || values.paused)) throw new UsageError('--delete takes no --every or --paused');
  return withClient(values, async (client, taskQueue) => {
    if (values.delete) {
      const deleted = await deleteInventorySchedule(client);
      if (values.json) io.stdout.write(`${JSON.stringify({ scheduleId: INVENTORY_SCHEDULE_ID, deleted })}\n`);
      else io.stdout.write(deleted ? `deleted ${INVENTORY_SCHEDULE_ID}\n` : `no schedule ${INVENTORY_SCHEDULE_ID}\n`);
      return deleted ? 0 : 1;
    }
    const view = await ensureInventorySchedule(client, { taskQueue, ...(values.every ? { every: values.every } : {}), ...(values.paused ? { paused: true } : {}) });
    if (values.json) io.stdout.write(`${JSON.stringify(view)}\n`);
    else {
      io.stdout.write(
        `${view.created ? 'created' : 'updated'} ${view.scheduleId}: every ${view.every}, values stand ${view.validForSeconds}s, ${view.paused ? 'paused' : `next run ${view.nextRunAt ?? '?'}`}\n`,
      );
    }
    return 0;
  });
}

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(HELP);
    return 0;
  }
  if (argv[0] === 'schedule') return schedule(argv.slice(1), io);
  const { values } = parse(argv, {
    ...temporalOptions,
    'expiring-within': { type: 'string' },
    json: { type: 'boolean' },
    csv: { type: 'boolean' },
    'page-size': { type: 'string' },
    timeout: { type: 'string' },
  });
  if (values.json && values.csv) throw new UsageError('give at most one of --json and --csv');
  const within = durationFlag('expiring-within', values['expiring-within']);
  const timeoutMs = durationFlag('timeout', values.timeout) ?? 10 * 60_000;
  if (timeoutMs < 1000) throw new UsageError('--timeout must be at least 1s');
  const pageSize = intOption(values['page-size'], 'page-size', DEFAULT_INVENTORY_PAGE_SIZE, 1, MAX_INVENTORY_PAGE_SIZE);
  const now = Date.now();
  const input: InventoryInput = { pageSize, ...(within !== undefined ? { expiringBefore: new Date(now + within).toISOString() } : {}) };
  const tty = Boolean((process.stderr as { isTTY?: boolean }).isTTY) && io === processIo;
  return withClient(values, async (client, taskQueue) => {
    const listed = await listOnWorker(client, taskQueue, input, timeoutMs, io, tty);
    if (!listed.clients) {
      const error = listed.error ?? { code: 'INCOMPLETE', message: 'the inventory did not complete' };
      if (values.json) io.stdout.write(`${JSON.stringify({ complete: false, workflowId: listed.workflowId, progress: listed.result?.progress ?? null, error })}\n`);
      io.stderr.write(`pinrotate inventory: ${error.code}: ${clean(error.message)} (workflow ${listed.workflowId})\n`);
      return 1;
    }
    const fleet = temporalFleetView(client);
    const [latest, schedules] = await Promise.all([fleet.latestRotations(), fleet.schedules()]);
    const rows = joinInventory(listed.clients, latest, schedules, Date.now());
    const result = listed.result!;
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({ takenAt: result.takenAt, complete: true, workflowId: listed.workflowId, expiringWithin: values['expiring-within'] ?? null, scanned: result.progress.scanned, total: rows.length, clients: rows })}\n`,
      );
    } else if (values.csv) {
      io.stdout.write(inventoryCsv(rows));
    } else {
      io.stdout.write(`${rows.length ? inventoryTable(rows) : 'no clients'}\n`);
      io.stdout.write(`${rows.length} of ${result.progress.scanned} clients${within !== undefined ? ` (primary pin expiring within ${values['expiring-within']})` : ''}, read ${result.takenAt}\n`);
    }
    return 0;
  });
}

import { parseDuration } from '../../pins/duration';
import { connectClient } from '../../starter';
import { listRotations, rotationListQuery, type RotationListFilter, type RotationRun } from '../../schedules/visibility';
import { ROTATION_STATUS_VALUES } from '../../contract';
import { processIo, type CommandIo } from '../io';
import { intOption, parse, temporalOptions, temporalTarget, UsageError } from '../usage';

const STATUSES = ['running', ...ROTATION_STATUS_VALUES];

const HELP = `usage: pinrotate list [--status S] [--client-prefix P] [--since D] [--limit N] [--json]

Rotations by what Temporal's visibility holds for them: the search attributes RotationStatus (the phase
while running, the outcome once ended) and ClientId. The same query works in the Temporal UI, e.g.
  WorkflowType = 'pinRotation' AND RotationStatus = 'awaiting_approval'

  --status S              running (default: every running rotation, whatever its phase), or one of
                          ${ROTATION_STATUS_VALUES.join(', ')}
                          (failed also lists rotations whose workflow failed)
  --client-prefix P       only clients whose id starts with P
  --since D               only rotations started (running) or ended (any other status) within D, e.g. 1d
  --limit N               at most N rotations, newest first (default 200)
  --json                  {"query","rotations":[{"clientId","status","workflowId","runId","executionStatus","startedAt","closedAt"}]}
  --address HOST:PORT     Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
  --namespace NS          (default $TEMPORAL_NAMESPACE or default)

Exit codes: 0 listed (also when none matched); 2 usage.
`;

const PREFIX = /^[A-Za-z0-9._-]{1,128}$/;

function table(runs: RotationRun[]): string {
  const header = ['CLIENT', 'STATUS', 'WORKFLOW', 'STARTED', 'ENDED'];
  // eslint-disable-next-line no-control-regex
  const clean = (v: string | null): string => (v ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  const rows = runs.map((r) => [clean(r.clientId), clean(r.status ?? r.executionStatus.toLowerCase()), clean(r.workflowId), r.startedAt, r.closedAt ?? '']);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((l) => l[i].length)));
  return all.map((l) => l.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(HELP);
    return 0;
  }
  const { values } = parse(argv, {
    address: temporalOptions.address,
    namespace: temporalOptions.namespace,
    status: { type: 'string' },
    'client-prefix': { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  const status = values.status ?? 'running';
  if (!STATUSES.includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')} (got "${status}")`);
  const prefix = values['client-prefix'];
  if (prefix !== undefined && !PREFIX.test(prefix)) throw new UsageError('--client-prefix must be 1-128 letters, digits, ".", "_" or "-"');
  let since: Date | undefined;
  if (values.since !== undefined) {
    try {
      since = new Date(Date.now() - parseDuration(values.since));
    } catch {
      throw new UsageError(`--since must be a duration like 1d or 12h (got "${values.since}")`);
    }
  }
  const limit = intOption(values.limit, 'limit', 200, 1, 100_000);
  const filter: RotationListFilter = { status, ...(prefix ? { clientPrefix: prefix } : {}), ...(since ? { since } : {}) };
  const query = rotationListQuery(filter);
  const client = await connectClient(temporalTarget(values));
  try {
    const runs = await listRotations(client, filter, limit);
    if (values.json) io.stdout.write(`${JSON.stringify({ query, rotations: runs })}\n`);
    else io.stdout.write(runs.length ? `${table(runs)}\n` : `no rotations match (${query})\n`);
    return 0;
  } finally {
    await client.connection.close();
  }
}

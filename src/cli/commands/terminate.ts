import { WorkflowNotFoundError } from '@temporalio/common';
import { isClientId, rotationWorkflowId } from '../../contract';
import { connectClient, rotationHandle } from '../../starter';
import { stuckInfo } from '../stuck';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';

const HELP = `usage: pinrotate terminate --client ID --reason TEXT [--json]

Terminates the running rotation of client ID (one whose workflow task cannot make progress, e.g. started with
an undecodable payload; \`pinrotate status\` shows it as stuck) so a new rotation can start. Nothing is written
to the platform: a rotation past Apply should be rolled back instead (\`pinrotate rollback\`), and terminate
refuses one that is progressing unless --force is given. The worker writes an audit record (status
terminated) for the run: this command starts a short audit workflow on the worker's task queue.

  --client ID             the client whose rotation to terminate (required)
  --reason TEXT           why (required; recorded in Temporal and in the audit record)
  --force                 terminate even a rotation that is progressing
  --json                  print {"clientId","workflowId","runId","terminated","audited"}

Exit codes: 0 terminated and audited, 1 not running, refused, or the audit record not confirmed, 2 usage.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    ...temporalOptions,
    client: { type: 'string' },
    reason: { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.client || !isClientId(values.client)) throw new UsageError('--client ID is required (a client id)');
  const reason = (values.reason ?? '').trim();
  if (!reason) throw new UsageError('--reason TEXT is required');
  const target = temporalTarget(values);
  const client = await connectClient(target);
  const say = (view: Record<string, unknown>, text: string, code: number): number => {
    if (values.json) process.stdout.write(`${JSON.stringify({ clientId: values.client, ...view })}\n`);
    else (code === 0 ? process.stdout : process.stderr).write(`${code === 0 ? '' : 'pinrotate: '}${text}\n`);
    return code;
  };
  try {
    const handle = rotationHandle(client, values.client);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return say({ terminated: false, error: 'not_found' }, `no rotation found for client ${values.client}`, 1);
      throw err;
    }
    if (description.status.name !== 'RUNNING') return say({ terminated: false, error: 'not_running' }, `the rotation of ${values.client} is ${description.status.name}, not running`, 1);
    const stuck = await stuckInfo(client, handle, description.raw);
    if (!stuck && !values.force) {
      return say({ terminated: false, error: 'progressing' }, `the rotation of ${values.client} is making progress; use pinrotate rollback, or --force to terminate it anyway`, 1);
    }
    const runId = description.runId;
    const by = process.env.USER ?? 'cli';
    await client.workflow.getHandle(rotationWorkflowId(values.client), runId).terminate(`pinrotate terminate by ${by}: ${reason.slice(0, 200)}`);
    // The audit record, written by the worker (which owns the audit file) and keyed by the terminated run.
    let audited = false;
    try {
      const audit = await client.workflow.start('rotationTerminated', {
        taskQueue: target.taskQueue,
        workflowId: `pin-rotation-terminated-${values.client}-${runId}`,
        args: [{ clientId: values.client, workflowId: description.workflowId, runId, reason, by, ...(stuck ? { stuckAttempts: stuck.attempts } : {}) }],
        workflowExecutionTimeout: '2m',
      });
      audited = ((await audit.result()) as { recorded: boolean }).recorded;
    } catch {
      audited = false;
    }
    const view = { workflowId: description.workflowId, runId, terminated: true, audited };
    if (!audited) return say(view, `terminated ${description.workflowId} (run ${runId}), but the worker did not confirm the audit record; is a worker running on ${target.taskQueue}?`, 1);
    return say(view, `terminated ${description.workflowId} (run ${runId}) and recorded it in the audit; a new rotation can start`, 0);
  } finally {
    await client.connection.close();
  }
}

import { WorkflowNotFoundError } from '@temporalio/common';
import { connectClient, describeRotation } from '../../starter';
import { formatPins } from '../output';
import { stuckInfo } from '../stuck';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';

const FAILED = new Set(['refused', 'rolled_back', 'failed']);

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...temporalOptions, client: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write('usage: pinrotate status --client ID [--json]\n\nExit codes: 0 running or succeeded, 1 refused/rolled back/failed or no rotation, 2 usage.\n');
    return 0;
  }
  if (!values.client) throw new UsageError('--client ID is required');
  const client = await connectClient(temporalTarget(values));
  try {
    let described;
    try {
      described = await describeRotation(client, values.client);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      const message = `no rotation found for client ${values.client}`;
      if (values.json) process.stdout.write(`${JSON.stringify({ clientId: values.client, status: 'not_found', error: { code: 'NOT_FOUND', message } })}\n`);
      else process.stderr.write(`pinrotate: ${message}\n`);
      return 1;
    }
    const { description, status, pending } = described;
    const workflowStatus = description.status.name;
    // A run whose workflow task keeps failing (e.g. an undecodable payload) holds the client: say so, and the way out.
    const stuck = workflowStatus === 'RUNNING' ? await stuckInfo(client, described.handle, description.raw) : undefined;
    // A workflow that ended without answering the query (e.g. terminated) still reports what Temporal knows.
    const outcome = status?.status ?? (workflowStatus === 'RUNNING' ? 'running' : 'failed');
    const view = {
      workflowId: description.workflowId,
      runId: description.runId,
      status: outcome,
      clientId: values.client,
      pins: status?.pins ?? [],
      pinMatchRate: status?.pinMatchRate ?? null,
      latencyMs: status?.latencyMs ?? null,
      phase: status?.phase ?? null,
      serviceId: status?.serviceId ?? null,
      workflowStatus,
      pinsBefore: status?.pinsBefore ?? [],
      plannedPins: status?.plannedPins ?? [],
      lastError: status?.lastError ?? null,
      attempts: status?.attempts ?? {},
      pendingActivities: pending,
      timestamps: status?.timestamps ?? {},
      overlapEndsAt: status?.overlapEndsAt ?? null,
      approval: status?.approval ?? null,
      refusedActions: status?.refusedActions ?? [],
      requester: status?.requester ?? null,
      stuck: stuck ?? null,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(view)}\n`);
    } else {
      const lines = [
        `${view.workflowId} (run ${view.runId}): ${view.status}, phase ${view.phase ?? 'unknown'}, workflow ${workflowStatus}`,
        'pins:',
        formatPins(view.pins),
      ];
      if (view.overlapEndsAt && view.phase === 'overlap') lines.push(`overlap ends ${view.overlapEndsAt}`);
      for (const p of pending) lines.push(`pending ${p.activity}: attempt ${p.attempt}${p.lastFailure ? `, last failure: ${p.lastFailure}` : ''}`);
      if (view.requester) lines.push(`requested by ${view.requester.id}${view.requester.verified ? ' (verified signature)' : ''}`);
      if (view.approval) lines.push(`approved by ${view.approval.by}${view.approval.verified ? ' (verified signature)' : ''} at ${view.approval.at}`);
      for (const r of view.refusedActions) lines.push(`refused ${r.action} (${r.via}) at ${r.at}: ${r.reason}`);
      if (view.lastError) lines.push(`last error: ${view.lastError.code}: ${view.lastError.message}`);
      if (stuck) {
        lines.push(`STUCK: the workflow task failed ${stuck.attempts - 1} times${stuck.lastFailure ? ` (last: ${stuck.lastFailure})` : ''}; the rotation cannot make progress`);
        lines.push(`  to free the client: pinrotate terminate --client ${values.client} --reason TEXT`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return FAILED.has(outcome) || stuck ? 1 : 0;
  } finally {
    await client.connection.close();
  }
}

import { WorkflowNotFoundError } from '@temporalio/common';
import { ActionRefusedError, connectClient, requestAction, type OperatorRequest } from '../../starter';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';

/**
 * `approve`, `finalize`, `rollback`: sent as updates, so the rotation answers. A refused action (it does not fit
 * the rotation's state) prints the rotation's reason and exits 1; nothing was recorded.
 */
async function send(argv: string[], action: OperatorRequest['action'], verb: string): Promise<number> {
  const { values } = parse(argv, { ...temporalOptions, client: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' } });
  if (values.force && action !== 'finalizeNow') throw new UsageError('--force is an option of finalize only');
  if (!values.client) throw new UsageError('--client ID is required');
  const target = temporalTarget(values);
  const client = await connectClient(target);
  const request: OperatorRequest =
    action === 'rollback'
      ? { action, args: { reason: values.reason ?? 'rollback requested from the CLI' } }
      : action === 'approve'
        ? { action, args: { by: values.by ?? process.env.USER ?? 'cli' } }
        : { action, args: { ...(values.reason ? { reason: values.reason } : {}), ...(values.force ? { force: true } : {}) } };
  try {
    const accepted = await requestAction(client, values.client, request);
    if (values.json) process.stdout.write(`${JSON.stringify({ clientId: values.client, action, accepted: true, phase: accepted.phase })}\n`);
    else process.stdout.write(`${verb} accepted by the rotation of ${values.client} (phase ${accepted.phase})\n`);
    return 0;
  } catch (err) {
    const refused = err instanceof ActionRefusedError;
    const text = err instanceof WorkflowNotFoundError ? `no running rotation for client ${values.client}` : refused ? `${verb} refused: ${err.reason}` : err instanceof Error ? err.message : String(err);
    if (values.json) process.stdout.write(`${JSON.stringify({ clientId: values.client, action, accepted: false, ...(refused ? { reason: err.reason } : {}), error: text })}\n`);
    process.stderr.write(`pinrotate: ${text}\n`);
    return 1;
  } finally {
    await client.connection.close();
  }
}

export const approve = (argv: string[]) => send(argv, 'approve', 'approval');
export const rollback = (argv: string[]) => send(argv, 'rollback', 'rollback');
export const finalize = (argv: string[]) => send(argv, 'finalizeNow', 'finalize-now');

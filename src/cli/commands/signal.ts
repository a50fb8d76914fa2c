import { WorkflowNotFoundError } from '@temporalio/common';
import { connectClient, signalRotation, type RotationSignal } from '../../starter';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';

async function send(argv: string[], signal: RotationSignal, verb: string): Promise<number> {
  const { values } = parse(argv, { ...temporalOptions, client: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, json: { type: 'boolean' } });
  if (!values.client) throw new UsageError('--client ID is required');
  const target = temporalTarget(values);
  const client = await connectClient(target);
  try {
    const arg = signal === 'rollback' ? { reason: values.reason ?? 'rollback requested from the CLI' } : signal === 'approve' ? { by: values.by ?? process.env.USER ?? 'cli' } : undefined;
    await signalRotation(client, values.client, signal, arg);
    if (values.json) process.stdout.write(`${JSON.stringify({ clientId: values.client, signal, sent: true })}\n`);
    else process.stdout.write(`${verb} sent to the rotation of ${values.client}\n`);
    return 0;
  } catch (err) {
    const text = err instanceof WorkflowNotFoundError ? `no running rotation for client ${values.client}` : err instanceof Error ? err.message : String(err);
    if (values.json) process.stdout.write(`${JSON.stringify({ clientId: values.client, signal, sent: false, error: text })}\n`);
    process.stderr.write(`pinrotate: ${text}\n`);
    return 1;
  } finally {
    await client.connection.close();
  }
}

export const approve = (argv: string[]) => send(argv, 'approve', 'approval');
export const rollback = (argv: string[]) => send(argv, 'rollback', 'rollback');
export const finalize = (argv: string[]) => send(argv, 'finalizeNow', 'finalize-now');

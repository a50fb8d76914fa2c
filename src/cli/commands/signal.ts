import { readFileSync } from 'node:fs';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { PRINCIPAL_ID_PATTERN, statusQuery } from '../../contract';
import { approvalFor, ed25519PrivateKey } from '../../approvals/sign';
import { ActionRefusedError, connectClient, requestAction, rotationHandle, type OperatorRequest } from '../../starter';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';

/**
 * `approve`, `finalize`, `rollback`: sent as updates, so the rotation answers. A refused action (it does not fit
 * the rotation's state) prints the rotation's reason and exits 1; nothing was recorded.
 */
async function send(argv: string[], action: OperatorRequest['action'], verb: string): Promise<number> {
  const { values } = parse(argv, {
    ...temporalOptions,
    client: { type: 'string' },
    reason: { type: 'string' },
    key: { type: 'string' },
    approver: { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.force && action !== 'finalizeNow') throw new UsageError('--force is an option of finalize only');
  if (!values.client) throw new UsageError('--client ID is required');
  const signer = action === 'approve' ? approverOf(values) : undefined;
  const target = temporalTarget(values);
  const client = await connectClient(target);
  try {
    const request: OperatorRequest =
      action === 'rollback'
        ? { action, args: { reason: values.reason ?? 'rollback requested from the CLI' } }
        : action === 'approve'
          ? { action, args: { approval: await signedApproval(client, values.client, signer!) } }
          : { action, args: { ...(values.reason ? { reason: values.reason } : {}), ...(values.force ? { force: true } : {}) } };
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

/**
 * The approver signs with their own Ed25519 key (a file, never an argument), over the run and the pins the
 * rotation shows now: the worker verifies it against APPROVER_KEYS in the update's validator.
 */
function approverOf(values: { key?: string; approver?: string }): { id: string; key: ReturnType<typeof ed25519PrivateKey> } {
  if (!values.key || !values.approver) throw new UsageError('approve needs --key FILE (your Ed25519 private key) and --approver ID (its id in the worker\'s APPROVER_KEYS)');
  if (!PRINCIPAL_ID_PATTERN.test(values.approver)) throw new UsageError(`--approver must match ${PRINCIPAL_ID_PATTERN}`);
  try {
    return { id: values.approver, key: ed25519PrivateKey(readFileSync(values.key, 'utf8')) };
  } catch (err) {
    throw new UsageError(`--key ${values.key}: not an Ed25519 private key (${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'})`);
  }
}

async function signedApproval(client: Client, clientId: string, signer: { id: string; key: ReturnType<typeof ed25519PrivateKey> }) {
  const status = await rotationHandle(client, clientId).query(statusQuery);
  return approvalFor(status, signer.id, signer.key);
}

export const approve = (argv: string[]) => send(argv, 'approve', 'approval');
export const rollback = (argv: string[]) => send(argv, 'rollback', 'rollback');
export const finalize = (argv: string[]) => send(argv, 'finalizeNow', 'finalize-now');

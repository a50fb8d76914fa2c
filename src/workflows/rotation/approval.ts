import { condition } from '@temporalio/workflow';
import { Refusal } from './errors';
import { DEFAULT_APPROVAL_TIMEOUT } from './input';
import type { RotationRun } from './run';

/** 2. Approval (optional): the rotation waits for a human, and gives up with nothing changed. */
export async function awaitApproval(run: RotationRun): Promise<void> {
  const { input, actions } = run;
  if (input.approval?.required) {
    run.state.enter('awaiting_approval');
    const decided = await condition(() => actions.approvedBy !== undefined || actions.rollbackReason !== undefined, run.approvalTimeoutMs);
    if (!decided) throw new Refusal('APPROVAL_TIMEOUT', `no approval within ${input.approval.timeout ?? DEFAULT_APPROVAL_TIMEOUT}; nothing was changed`);
    if (actions.approvedBy === undefined) throw new Refusal('REJECTED', actions.rollbackReason ?? 'rejected before apply; nothing was changed');
  }
  if (actions.rollbackReason !== undefined) throw new Refusal('REJECTED', `${actions.rollbackReason}; nothing was changed`);
}

import { condition, workflowInfo } from '@temporalio/workflow';
import {
  approvalMessage,
  FLEET_ID_PREFIX,
  MAX_SIGNATURE_VALIDITY_MS,
  plannedPinsText,
  PRINCIPAL_ID_PATTERN,
  startRequestMessage,
  type ApproveArgs,
  type RequesterIdentity,
  type RotationInput,
  type SignedApproval,
  type SignedStartRequest,
  type TrustedKey,
} from '../../contract';
import { chainFingerprintText } from '../../pins/certificates-only';
import { sha256Hex, verifyEd25519 } from '../../pins/signature';
import type { Pin } from '../../pins/types';
import { Refusal } from './errors';
import { DEFAULT_APPROVAL_TIMEOUT, shownText } from './input';
import { patchedBefore, type RotationRun } from './run';

/**
 * The approver keys this run trusts (public keys from the worker's APPROVER_KEYS, fetched once at start) and
 * the requester they are checked against. Approvals are verified here, in the update's validator: a forged,
 * stale, wrongly bound or self-approval is refused to its sender and never recorded.
 */
export class ApprovalGate {
  constructor(
    readonly keys: readonly TrustedKey[],
    readonly requester: RequesterIdentity,
    private readonly plannedPins: () => Pin[],
  ) {}

  /** Why this approval is not accepted, or undefined when it is. */
  refusal(args: ApproveArgs | undefined): string | undefined {
    const approval = args?.approval as SignedApproval | undefined;
    if (typeof approval !== 'object' || approval === null || typeof approval.claims !== 'object' || approval.claims === null) {
      return 'an approval must be signed by an approver key the worker trusts (pinrotate approve --key FILE --approver ID)';
    }
    const c = approval.claims;
    if (typeof c.approver !== 'string' || !PRINCIPAL_ID_PATTERN.test(c.approver)) return 'approval.claims.approver is not an approver id';
    const key = this.keys.find((k) => k.id === c.approver);
    if (!key) return `approver ${c.approver} is not trusted by this worker (APPROVER_KEYS)`;
    const fields = [c.workflowId, c.runId, c.plannedPins, c.expiresAt];
    if (fields.some((f) => typeof f !== 'string') || (c.requester !== undefined && typeof c.requester !== 'string')) return 'approval claims are malformed';
    if (!verifyEd25519(key.publicKey, approvalMessage(c), approval.signature)) return `the approval's signature does not verify with ${c.approver}'s key`;
    const info = workflowInfo();
    if (c.workflowId !== info.workflowId || c.runId !== info.runId) return 'the approval is for another rotation run';
    if (this.plannedPins().length === 0 || c.plannedPins !== sha256Hex(plannedPinsText(this.plannedPins()))) return 'the approval is for other pins than this rotation plans';
    const expiry = expiryRefusal(c.expiresAt, 'approval');
    if (expiry) return expiry;
    if (c.requester !== undefined && c.requester !== this.requester.id) return 'the approval names another requester than this rotation has';
    if (this.isRequester(c.approver)) return `four eyes: ${c.approver} requested this rotation and cannot approve it`;
    return undefined;
  }

  /** The requester, verified or as stated: an approver with that name never approves their own request. */
  private isRequester(approver: string): boolean {
    const r = this.requester.id;
    return r === approver || r === `unverified:${approver}`;
  }
}

function expiryRefusal(expiresAt: string, what: string): string | undefined {
  const expires = Date.parse(expiresAt);
  const now = Date.now();
  if (!Number.isFinite(expires) || expires <= now) return `the ${what} has expired`;
  if (expires - now > MAX_SIGNATURE_VALIDITY_MS) return `the ${what} is valid for more than 24h; sign one that expires sooner`;
  return undefined;
}

/**
 * Who asked (DESIGN.md §4 Approval): a start request signed with a trusted key names a verified requester; a
 * rotation started by a fleet or a schedule is `fleet:<id>` / `schedule:<id>`; anything else is
 * `unverified:<requestedBy>`. A signed request that does not verify is refused: nothing is changed.
 */
export function requesterOf(input: RotationInput, keys: readonly TrustedKey[]): RequesterIdentity {
  if (input.request !== undefined) {
    const reason = startRequestRefusal(input, input.request, keys);
    if (reason) throw new Refusal('REQUEST_NOT_VERIFIED', reason);
    return { id: input.request.claims.requester, verified: true };
  }
  const parent = workflowInfo().parent?.workflowId;
  if (parent !== undefined) {
    if (parent.startsWith(FLEET_ID_PREFIX)) return { id: `fleet:${shownText(parent.slice(FLEET_ID_PREFIX.length), 128)}`, verified: false };
    if (parent.startsWith('scheduled-rotation')) return { id: `schedule:${shownText(input.clientId, 128)}`, verified: false };
    return { id: `parent:${shownText(parent, 128)}`, verified: false };
  }
  return { id: `unverified:${shownText(input.requestedBy, 64) || 'unknown'}`, verified: false };
}

function startRequestRefusal(input: RotationInput, request: SignedStartRequest, keys: readonly TrustedKey[]): string | undefined {
  const c = request?.claims;
  if (typeof c !== 'object' || c === null || typeof c.requester !== 'string' || !PRINCIPAL_ID_PATTERN.test(c.requester)) return 'request.claims.requester is not a requester id';
  const key = keys.find((k) => k.id === c.requester);
  if (!key) return `requester ${c.requester} is not in the worker's APPROVER_KEYS`;
  if ([c.workflowId, c.clientId, c.chain, c.expiresAt].some((f) => typeof f !== 'string')) return 'request claims are malformed';
  if (!verifyEd25519(key.publicKey, startRequestMessage(c), request.signature)) return `the start request's signature does not verify with ${c.requester}'s key`;
  if (c.workflowId !== workflowInfo().workflowId || c.clientId !== input.clientId) return 'the start request is for another rotation';
  if (c.chain !== sha256Hex(chainFingerprintText(input.certificatePem))) return 'the start request is for another certificate chain';
  return expiryRefusal(c.expiresAt, 'start request');
}

/**
 * Establishes requester and trusted approver keys before preflight. Runs recorded before approvals were signed
 * replay without the key fetch and accept the self-asserted `by` they were approved with.
 */
export async function admitRequester(run: RotationRun): Promise<void> {
  const { input } = run;
  if (!patchedBefore(run, 'signed-approvals-v1')) {
    run.state.status.requester = { id: `unverified:${shownText(input.requestedBy, 64) || 'unknown'}`, verified: false };
    return;
  }
  const keys = input.approval?.required === true || input.request !== undefined ? await run.acts.local.trustedApprovers() : [];
  const requester = requesterOf(input, keys);
  run.state.status.requester = requester;
  if (input.approval?.required === true) {
    if (keys.length === 0) throw new Refusal('NO_TRUSTED_APPROVERS', 'this rotation requires an approval, but the worker trusts no approver keys (APPROVER_KEYS); nothing was changed');
    run.actions.gate = new ApprovalGate(keys, requester, () => run.state.status.plannedPins);
  }
}

/** 2. Approval (optional): the rotation waits for a human, and gives up with nothing changed. */
export async function awaitApproval(run: RotationRun): Promise<void> {
  const { input, actions } = run;
  if (input.approval?.required) {
    run.state.enter('awaiting_approval');
    const decided = await condition(() => actions.approvedBy !== undefined || actions.rollbackReason !== undefined, run.approvalTimeoutMs, {
      summary: `approval deadline (${input.approval.timeout ?? DEFAULT_APPROVAL_TIMEOUT})`,
    });
    if (!decided) throw new Refusal('APPROVAL_TIMEOUT', `no approval within ${input.approval.timeout ?? DEFAULT_APPROVAL_TIMEOUT}; nothing was changed`);
    if (actions.approvedBy === undefined) throw new Refusal('REJECTED', actions.rollbackReason ?? 'rejected before apply; nothing was changed');
  }
  if (actions.rollbackReason !== undefined) throw new Refusal('REJECTED', `${actions.rollbackReason}; nothing was changed`);
}

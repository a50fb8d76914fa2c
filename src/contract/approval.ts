/**
 * Who asked and who approved (DESIGN.md §4 Approval). Approvals are Ed25519 signatures by an approver key the
 * worker trusts (APPROVER_KEYS), over claims that bind them to one run and its planned pins; a start request may be
 * signed the same way, which makes its requester verified. Pure: the workflow, the worker and the CLI share it.
 */

/** Approver and requester ids as the key ring names them: short, one token, no spaces or control characters. */
export const PRINCIPAL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** An approval or start request is valid for at most this long after signing (a leaked one goes stale). */
export const MAX_SIGNATURE_VALIDITY_MS = 24 * 3_600_000;

export interface ApprovalClaims {
  workflowId: string;
  runId: string;
  /** sha256 hex of `plannedPinsText(status.plannedPins)`: the approval holds for exactly these pins. */
  plannedPins: string;
  approver: string;
  /** The requester the approver saw (status.requester.id); when given it must match. */
  requester?: string;
  /** ISO time after which the approval is void. */
  expiresAt: string;
}

export interface SignedApproval {
  claims: ApprovalClaims;
  /** Ed25519 signature, hex, over `approvalMessage(claims)`. */
  signature: string;
}

export interface StartRequestClaims {
  workflowId: string;
  clientId: string;
  /** sha256 hex of the re-framed chain's fingerprint text (src/pins/certificates-only.ts chainFingerprintText). */
  chain: string;
  requester: string;
  expiresAt: string;
}

export interface SignedStartRequest {
  claims: StartRequestClaims;
  signature: string;
}

/** A key the worker trusts, as the trustedApprovers activity hands it to the workflow (public keys only). */
export interface TrustedKey {
  id: string;
  /** Raw 32-byte Ed25519 public key, hex. */
  publicKey: string;
}

/** Who started a rotation: verified (a signed start request) or as stated, prefixed `unverified:`, `schedule:`, `fleet:`. */
export interface RequesterIdentity {
  id: string;
  verified: boolean;
}

export function plannedPinsText(pins: ReadonlyArray<{ role: string; sha256Spki: string; sha256Certificate: string }>): string {
  return pins.map((p) => `${p.role}:${p.sha256Spki}:${p.sha256Certificate}`).join('\n');
}

export function approvalMessage(c: ApprovalClaims): string {
  return `pinrotate-approval-v1\n${JSON.stringify([c.workflowId, c.runId, c.plannedPins, c.approver, c.requester ?? null, c.expiresAt])}`;
}

export function startRequestMessage(c: StartRequestClaims): string {
  return `pinrotate-start-v1\n${JSON.stringify([c.workflowId, c.clientId, c.chain, c.requester, c.expiresAt])}`;
}

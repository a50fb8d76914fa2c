import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  approvalMessage,
  plannedPinsText,
  startRequestMessage,
  type ApprovalClaims,
  type RotationStatus,
  type SignedApproval,
  type SignedStartRequest,
  type StartRequestClaims,
} from '../contract';
import { certificatesOnly, chainFingerprintText } from '../pins/certificates-only';
import { sha256Hex } from '../pins/signature';

/**
 * The signing side of DESIGN.md §4 Approval: an approver (or a requester) signs claims with their Ed25519 private
 * key, on their own machine; the worker holds only the public keys (APPROVER_KEYS). The key never leaves this process.
 */

/** Approvals and start requests are signed for this long by default (the workflow accepts at most 24h). */
export const DEFAULT_VALIDITY_MS = 3_600_000;

export function ed25519PrivateKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the key is ${key.asymmetricKeyType ?? 'unknown'}; approver keys are Ed25519`);
  return key;
}

function signText(key: KeyObject, text: string): string {
  return sign(null, Buffer.from(text, 'utf8'), key).toString('hex');
}

export function signApprovalClaims(key: KeyObject, claims: ApprovalClaims): SignedApproval {
  return { claims, signature: signText(key, approvalMessage(claims)) };
}

/** An approval of the rotation as its status shows it: bound to that run, its planned pins and its requester. */
export function approvalFor(status: Pick<RotationStatus, 'workflowId' | 'runId' | 'plannedPins' | 'requester'>, approver: string, key: KeyObject, now = Date.now(), validityMs = DEFAULT_VALIDITY_MS): SignedApproval {
  return signApprovalClaims(key, {
    workflowId: status.workflowId,
    runId: status.runId,
    plannedPins: sha256Hex(plannedPinsText(status.plannedPins)),
    approver,
    ...(status.requester ? { requester: status.requester.id } : {}),
    expiresAt: new Date(now + validityMs).toISOString(),
  });
}

/** A signed start request: the requester is then verified, and an approver with the same id cannot approve it. */
export function startRequestFor(workflowId: string, clientId: string, certificatePem: string, requester: string, key: KeyObject, now = Date.now(), validityMs = DEFAULT_VALIDITY_MS): SignedStartRequest {
  const claims: StartRequestClaims = {
    workflowId,
    clientId,
    chain: sha256Hex(chainFingerprintText(certificatesOnly(certificatePem).pem)),
    requester,
    expiresAt: new Date(now + validityMs).toISOString(),
  };
  return { claims, signature: signText(key, startRequestMessage(claims)) };
}

/** A fresh approver key pair (tests, `pinrotate dev`): the private key PEM and the public key as APPROVER_KEYS takes it. */
export function newApproverKey(): { privateKeyPem: string; publicKeyPem: string; key: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), key: privateKey };
}

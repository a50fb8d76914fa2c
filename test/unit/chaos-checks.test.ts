import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAudit, checkPlatform, checkWebhooks, type ObservedRotation } from '../../chaos/checks';
import type { AdminClientState, WebhookDelivery } from '../../src/emulator/types';
import type { Pin } from '../../src/pins/types';

const pin = (spki: string, role: Pin['role'] = 'primary'): Pin => ({ role, sha256Spki: spki, sha256Certificate: `c-${spki}`, notAfter: '2030-01-01T00:00:00Z', serialNumber: '01', subject: 'CN=x' });

function rotation(status: 'finalized' | 'rolled_back', runId = 'run-1'): ObservedRotation {
  const newPin = pin('new');
  return {
    clientId: 'c1',
    workflowId: 'pin-rotation-c1',
    kind: status === 'finalized' ? 'immediate' : 'rollback',
    seeded: { certificateChain: 'OLD', pins: [pin('old')], mtlsRequired: true },
    newChain: 'NEW',
    newPin,
    executionStatus: 'COMPLETED',
    runId,
    result: { workflowId: 'pin-rotation-c1', status, clientId: 'c1', pins: status === 'finalized' ? [newPin] : [pin('old')], pinMatchRate: 1, latencyMs: 1, serviceId: 'c1', phase: 'done', error: null },
  };
}

function delivery(seq: number, event: string, runId: string, duplicate = false): WebhookDelivery {
  return {
    seq,
    receivedAt: '',
    headers: {},
    body: { event, workflowId: 'pin-rotation-c1', runId, pins: [pin('new')] },
    signatureValid: true,
    tokenValid: true,
    idempotencyKey: `pin-rotation-c1:${event}`,
    duplicate,
    status: 200,
  };
}

test('a finalized rotation whose platform still has the fallback pin is a violation', () => {
  const client = { certificateChain: 'NEW', pins: [pin('new'), pin('old', 'fallback')], mtlsRequired: true, version: 3 } as AdminClientState;
  const v = checkPlatform([rotation('finalized')], new Map([['c1', client]]));
  assert.ok(v.some((x) => x.check === 'platform' && /exactly the new primary/.test(x.message)));
});

test('a redelivery of the same run is fine; the same key from another run is a swallowed event', () => {
  const ok = [delivery(1, 'certificate_rotation', 'run-1'), delivery(2, 'certificate_rotation', 'run-1', true), delivery(3, 'rotation_finalized', 'run-1')];
  assert.deepEqual(checkWebhooks([rotation('finalized')], ok), []);
  const collided = [...ok, delivery(4, 'rotation_finalized', 'run-2', true)];
  assert.ok(checkWebhooks([rotation('finalized')], collided).some((x) => /reused by a different event/.test(x.message)));
});

test('the audit file needs exactly one whole record per rotation run', () => {
  const rec = { workflowId: 'pin-rotation-c1', runId: 'run-1', status: 'finalized', pins: [pin('new')] };
  assert.deepEqual(checkAudit([rotation('finalized')], `${JSON.stringify(rec)}\n`), []);
  assert.ok(checkAudit([rotation('finalized')], `${JSON.stringify(rec)}\n${JSON.stringify(rec)}\n`).some((x) => /2 audit records/.test(x.message)));
  assert.ok(checkAudit([rotation('finalized')], `${JSON.stringify(rec)}\n{"workflowId":"pin-rot`).some((x) => /torn write/.test(x.message)));
});

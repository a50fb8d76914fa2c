import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CertificateError } from '../../src/pins/errors';
import { announceCertificate, queryStatus, signalRotation, startRotation, waitForRotation } from '../../src/starter';
import { approvalFor } from '../../src/approvals/sign';
import { statusQuery } from '../../src/contract';
import { FAST_RETRY, harness, issue, seedClient, testApprovers } from './harness';
import { recordedWorkflowIds } from './saga.suite';

const T = { timeout: 120_000 };

async function waitForPhase(handle: Parameters<typeof queryStatus>[0], phase: string, runId?: string): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    const s = await queryStatus(handle).catch(() => undefined);
    if (s?.phase === phase && (!runId || s.runId !== runId)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`rotation never reached phase ${phase}`);
}

/** A PKI manager pushing newly issued certificates: signal-with-start, and update-with-start over Temporal's HTTP API. */
export function upstreamSuite(): void {
  test('signal-with-start of certificateIssued starts a rotation with the certificate from the signal', T, async () => {
    const h = harness();
    const id = 'upstream-sws';
    await seedClient(id);
    const next = await issue(id);
    const handle = await announceCertificate(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', taskQueue: h.taskQueue, retry: FAST_RETRY, serviceId: 'svc-up' });
    recordedWorkflowIds.push(handle.workflowId);
    const result = await handle.result();
    assert.equal(result.status, 'finalized');
    assert.equal(result.serviceId, 'svc-up');
    const after = await h.admin.getClient(id);
    assert.deepEqual(after.pins.map((p) => [p.role, p.sha256Spki]), [['primary', next.info.sha256Spki]]);
  });

  test('a certificate announced during a running rotation is rotated to right after it, under the same id', T, async () => {
    const h = harness();
    const id = 'upstream-next';
    await seedClient(id);
    const first = await issue(id);
    const second = await issue(id);
    const handle = await startRotation(h.client, { clientId: id, certificatePem: first.certificatePem, overlap: '1h', retry: FAST_RETRY }, h.taskQueue);
    await waitForRotation(handle, { untilOverlap: true, pollMs: 100 });
    const firstRun = (await queryStatus(handle)).runId;
    // The running rotation receives the signal (signal-with-start does not start a second one).
    await announceCertificate(h.client, { clientId: id, certificatePem: second.certificatePem, taskQueue: h.taskQueue });
    await signalRotation(h.client, id, 'finalizeNow');
    await waitForPhase(handle, 'overlap', firstRun);
    const during = await h.admin.getClient(id);
    assert.deepEqual(during.pins.map((p) => [p.role, p.sha256Spki]), [
      ['primary', second.info.sha256Spki],
      ['fallback', first.info.sha256Spki],
    ]);
    await signalRotation(h.client, id, 'finalizeNow');
    const latest = h.client.workflow.getHandle(handle.workflowId);
    const result = (await latest.result()) as { status: string };
    assert.equal(result.status, 'finalized');
    const after = await h.admin.getClient(id);
    assert.deepEqual(after.pins.map((p) => [p.role, p.sha256Spki]), [['primary', second.info.sha256Spki]]);
  });

  test('a private key is refused by the client before anything is sent', T, async () => {
    const h = harness();
    const cert = await issue('upstream-key');
    await assert.rejects(
      announceCertificate(h.client, { clientId: 'upstream-key', certificatePem: cert.certificatePem + cert.privateKeyPem, taskQueue: h.taskQueue }),
      (err: unknown) => err instanceof CertificateError && err.code === 'PRIVATE_KEY_SUPPLIED',
    );
  });

  test("update-with-start over Temporal's HTTP API (curl-style JSON) starts the rotation; a private key is rejected unrecorded", T, async () => {
    const h = harness();
    const id = 'upstream-http';
    await seedClient(id);
    const next = await issue(id);
    const workflowId = `pin-rotation-${id}`;
    const body = (certificatePem: string, updateId: string) => ({
      operations: [
        {
          startWorkflow: {
            namespace: 'default',
            workflowId,
            workflowType: { name: 'pinRotation' },
            taskQueue: { name: h.taskQueue },
            input: [{ clientId: id, overlap: '0s', retry: FAST_RETRY }],
            workflowIdConflictPolicy: 'WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING',
            requestId: `${updateId}-start`,
          },
        },
        {
          updateWorkflow: {
            namespace: 'default',
            workflowExecution: { workflowId },
            request: { meta: { updateId }, input: { name: 'certificateIssued', args: [{ certificatePem }] } },
            waitPolicy: { lifecycleStage: 'UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED' },
          },
        },
      ],
    });
    const post = (payload: unknown) =>
      fetch(`${h.httpUrl}/api/v1/namespaces/default/workflows/execute-multi-operation`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
    const res = await post(body(next.certificatePem, `${id}-1`));
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(text, /"accepted":true/);
    recordedWorkflowIds.push(workflowId);
    const result = (await h.client.workflow.getHandle(workflowId).result()) as { status: string };
    assert.equal(result.status, 'finalized');
    const after = await h.admin.getClient(id);
    assert.equal(after.pins[0].sha256Spki, next.info.sha256Spki);

    // A second announcement carrying a key: the validator rejects it and the history never holds it.
    const hostile = await post(body(next.certificatePem + next.privateKeyPem, `${id}-2`));
    const hostileText = await hostile.text();
    assert.match(hostileText, /PRIVATE_KEY_SUPPLIED/);
    const history = JSON.stringify(await h.client.workflow.getHandle(workflowId).fetchHistory());
    assert.ok(!history.includes('PRIVATE KEY'));
    const finalClient = await h.admin.getClient(id);
    assert.equal(finalClient.version, after.version);
  });

  test("operator actions over Temporal's HTTP API, as the README's curl does: query, a refused finalize, approve, a refused second approve, roll back", T, async () => {
    const h = harness();
    const id = 'upstream-http-ops';
    const seeded = await seedClient(id);
    const next = await issue(id);
    const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '1h', approval: { required: true, timeout: '1h' }, retry: FAST_RETRY }, h.taskQueue);
    recordedWorkflowIds.push(handle.workflowId);
    const base = `${h.httpUrl}/api/v1/namespaces/default/workflows/${handle.workflowId}`;
    const post = async (path: string, payload: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${base}/${path}`, { method: 'POST', body: JSON.stringify(payload) });
      const text = await res.text();
      assert.equal(res.status, 200, `${path}: ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const update = (name: string, updateId: string, arg: unknown) =>
      post(`update/${name}`, { request: { meta: { updateId }, input: { args: [arg] } }, waitPolicy: { lifecycleStage: 'UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED' } }) as Promise<{
        outcome: { success?: unknown[]; failure?: { message: string; applicationFailureInfo?: { type?: string } } };
      }>;
    const status = async () => ((await post('query/status', {})) as { queryResult: Array<{ phase: string; approval: { by: string } | null }> }).queryResult[0];

    await waitForPhase(handle, 'awaiting_approval');
    assert.equal((await status()).phase, 'awaiting_approval');
    const early = await update('finalizeNow', 'finalize-early', {});
    assert.match(early.outcome.failure?.message ?? '', /finalizeNow is valid only once the new pins are live/);
    assert.equal(early.outcome.failure?.applicationFailureInfo?.type, 'ActionRefused');
    assert.equal((await status()).phase, 'awaiting_approval');
    assert.equal((await h.admin.getClient(id)).version, 1, 'nothing written before the approval');

    const unsigned = await update('approve', 'approve-0', { by: 'alice' });
    assert.match(unsigned.outcome.failure?.message ?? '', /must be signed/);
    const approved = await update('approve', 'approve-1', { approval: approvalFor(await handle.query(statusQuery), 'alice', testApprovers.alice.key) });
    assert.deepEqual(approved.outcome.success, [{ accepted: true, action: 'approve', phase: 'awaiting_approval' }]);
    await waitForPhase(handle, 'overlap');
    const twice = await update('approve', 'approve-2', { approval: approvalFor(await handle.query(statusQuery), 'bob', testApprovers.bob.key) });
    assert.match(twice.outcome.failure?.message ?? '', /already approved by alice/);
    // The overlap is kept: the refused finalize was not remembered.
    const live = await h.admin.getClient(id);
    assert.deepEqual(live.pins.map((p) => p.role), ['primary', 'fallback']);
    assert.equal((await status()).approval?.by, 'alice');

    const rolledBack = await update('rollback', 'rollback-1', { reason: 'old clients failing' });
    assert.equal((rolledBack.outcome.success?.[0] as { accepted: boolean }).accepted, true);
    const result = await handle.result();
    assert.equal(result.status, 'rolled_back');
    const after = await h.admin.getClient(id);
    assert.deepEqual(after.pins, seeded.pins);
  });
}

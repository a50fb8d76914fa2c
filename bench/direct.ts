/**
 * The direct baseline: the same activity code (`createActivities(buildDeps(config))`) a rotation runs, called in
 * the workflow's order without Temporal, to tell what orchestration costs. Same steps as pinRotation with overlap
 * 0s and no probes: certificate, read, validate, plan, PATCH (its response is the verification), webhook, PATCH,
 * webhook, audit.
 */
import { performance } from 'node:perf_hooks';
import { createActivities } from '../src/activities';
import type { WorkerConfig } from '../src/config/worker-config';
import { pinsEqual, planFinalize, planRotation } from '../src/pins/plan';
import { buildDeps } from '../src/worker';

export interface DirectRun {
  clients: number;
  concurrency: number;
  wallMs: number;
  /** One rotation, ms, sorted. */
  latencies: number[];
  failed: number;
  firstError?: string;
}

export async function runDirect(config: WorkerConfig, ids: readonly string[], opts: { concurrency: number; certSource: string; runTag: string }): Promise<DirectRun> {
  const acts = createActivities(buildDeps(config));
  const rotate = async (clientId: string): Promise<void> => {
    const started = Date.now();
    const workflowId = `bench-direct/${opts.runTag}/${clientId}`;
    const { certificatePem } = await acts.obtainCertificate({ clientId, source: opts.certSource });
    const before = await acts.fetchClient(clientId);
    if (before.state !== 'active' || !before.mtlsRequired) throw new Error(`client ${clientId} is not rotatable`);
    const cert = await acts.validateCertificate({ certificatePem });
    const planned = planRotation(before.pins, cert.leafPin);
    const applied = await acts.applyPins({ clientId, version: before.version, certificateChain: certificatePem, pins: planned });
    if (!pinsEqual(applied.pins, planned)) throw new Error('PATCH response does not hold the planned pins');
    const event = (name: 'certificate_rotation' | 'rotation_finalized', pins: typeof planned) =>
      acts.notifyPki({ event: name, clientId, serviceId: clientId, pins, workflowId, runId: 'direct', latencyMs: Date.now() - started, occurredAt: new Date().toISOString() });
    await event('certificate_rotation', applied.pins);
    const finalPins = planFinalize(applied.pins);
    const finalized = await acts.applyPins({ clientId, version: applied.version, pins: finalPins });
    if (!pinsEqual(finalized.pins, finalPins)) throw new Error('PATCH response does not hold the final pins');
    await event('rotation_finalized', finalized.pins);
    await acts.writeAudit({
      timestamp: new Date().toISOString(),
      clientId,
      serviceId: clientId,
      workflowId,
      runId: 'direct',
      pins: finalized.pins,
      latencyMs: Date.now() - started,
      pinMatchRate: 1,
      status: 'finalized',
      errorCode: null,
      durationMs: Date.now() - started,
    });
  };

  const latencies: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++];
      const t = performance.now();
      try {
        await rotate(id);
        latencies.push(performance.now() - t);
      } catch (err) {
        failed += 1;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, lane));
  const wallMs = performance.now() - started;
  return { clients: ids.length, concurrency: opts.concurrency, wallMs, latencies: latencies.sort((a, b) => a - b), failed, firstError };
}

/**
 * calls: platform API calls and token grants per completed rotation (overlap 0s, no traffic on the old certificate),
 * as the emulator counts them. Target: at most 4 calls per rotation (the read, apply, finalize: the PATCH response
 * is the verification; and one telemetry reading, at verify, that also decides the drain) and at most one token
 * grant per worker per token lifetime.
 */
import { performance } from 'node:perf_hooks';
import { startRotation } from '../../src/starter';
import { apiCounts } from '../fleet-run';
import { clientIds, seedClients, startPlatform, startWorkerProcess, uniqueSuffix, workerEnv } from '../stack';
import { round, type BenchContext, type ScenarioResult } from './types';

export async function runCalls(ctx: BenchContext): Promise<ScenarioResult> {
  const temporal = ctx.temporal!;
  const n = ctx.overrides.rotations ?? (ctx.quick ? 10 : 40);
  const tokenTtlSeconds = 86_400;
  const platform = await startPlatform(temporal.dir, { rateLimitPerMinute: 0, tokenTtlSeconds });
  const suffix = uniqueSuffix();
  const taskQueue = `bench-calls-${suffix}`;
  const ids = clientIds(`calls-${suffix}`, n);
  await seedClients(platform, ids);
  const env = workerEnv(temporal, platform, { taskQueue, rateLimitPerMinute: 1_000_000, logLevel: ctx.logLevel, auditPath: `${temporal.dir}/audit-${taskQueue}.jsonl` });
  const worker = await startWorkerProcess(temporal, env, { tuning: ctx.tuning, log: ctx.log });
  try {
    ctx.log(`calls: ${n} rotations (overlap 0s), one worker`);
    const before = await platform.admin.stats();
    const started = performance.now();
    const handles = await Promise.all(ids.map((clientId) => startRotation(temporal.client, { clientId, certificatePem: platform.nextPem, overlap: '0s' }, taskQueue)));
    const results = await Promise.all(handles.map((h) => h.result()));
    const wallMs = performance.now() - started;
    const after = await platform.admin.stats();
    const api = apiCounts(before, after);
    const finalized = results.filter((r) => r.status === 'finalized').length;
    const per = (x: number): number => round(x / Math.max(1, finalized), 2);
    const workers = 1;
    const lifetimes = Math.max(1, Math.ceil(wallMs / 1000 / tokenTtlSeconds));
    const grantsPerWorkerLifetime = api.tokenGrants / workers / lifetimes;
    const rows = [
      { metric: 'rotations started / finalized', measured: `${n} / ${finalized}`, target: 'all finalized' },
      { metric: 'GET client per rotation', measured: per(api.get), target: '1 (preflight read)' },
      { metric: 'PATCH client per rotation', measured: per(api.patch), target: '2 (apply, finalize)' },
      { metric: 'telemetry readings per rotation', measured: per(api.handshakes), target: '1 (at verify; it decides the drain)' },
      { metric: 'platform API calls per rotation', measured: per(api.total), target: '<= 4' },
      { metric: 'platform API calls, total', measured: api.total, target: '' },
      { metric: 'token grants (1 worker, whole run)', measured: api.tokenGrants, target: `<= 1 per worker per ${tokenTtlSeconds} s token` },
      { metric: 'PKI webhooks per rotation', measured: per(api.webhooks), target: '2 (rotation, finalized)' },
      { metric: 'wall time, s', measured: round(wallMs / 1000, 2), target: '' },
    ];
    return {
      scenario: 'calls',
      tables: [{ title: `calls: platform requests per completed rotation (${n} rotations, overlap 0s; counted by the emulator)`, rows }],
      targets: [
        { scenario: 'calls', target: '<= 4 platform calls per rotation', measured: String(per(api.total)), met: finalized === n && api.total / Math.max(1, finalized) <= 4 },
        { scenario: 'calls', target: '<= 1 token grant per worker per token lifetime', measured: String(round(grantsPerWorkerLifetime, 2)), met: grantsPerWorkerLifetime <= 1 },
      ],
      notes: [],
      details: { rotations: n, finalized, wallMs, api, statuses: results.map((r) => r.status), tokenTtlSeconds },
    };
  } finally {
    await worker.stop();
    await platform.close();
  }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMetricsServer } from '../../src/metrics/server';
import { RotationMetrics } from '../../src/metrics/registry';

test('the registry renders counters, gauges and histograms in Prometheus text format', () => {
  const m = new RotationMetrics();
  m.rotations.inc({ status: 'finalized' });
  m.rotations.inc({ status: 'finalized' });
  m.rotations.inc({ status: 'rolled_back' });
  m.duration.observe({ status: 'finalized' }, 3);
  m.platformRequests.inc({ method: 'PATCH', status: '200' });
  m.daysToExpiry.set({ client_id: 'a"b' }, 12.5);
  const text = m.render();
  assert.match(text, /^rotations_total\{status="finalized"\} 2$/m);
  assert.match(text, /^rotations_total\{status="rolled_back"\} 1$/m);
  assert.match(text, /^rotation_duration_seconds_bucket\{status="finalized",le="1"\} 0$/m);
  assert.match(text, /^rotation_duration_seconds_bucket\{status="finalized",le="5"\} 1$/m);
  assert.match(text, /^rotation_duration_seconds_count\{status="finalized"\} 1$/m);
  assert.match(text, /^platform_requests_total\{method="PATCH",status="200"\} 1$/m);
  assert.match(text, /^client_certificate_days_to_expiry\{client_id="a\\"b"\} 12.5$/m);
  assert.match(text, /# TYPE rotations_total counter/);
});

test('the metrics server serves /metrics and answers 404 elsewhere', async () => {
  const m = new RotationMetrics();
  m.rotations.inc({ status: 'refused' });
  const server = await startMetricsServer({ port: 0, metrics: m });
  try {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /rotations_total\{status="refused"\} 1/);
    const missing = await fetch(`http://127.0.0.1:${port}/other`);
    assert.equal(missing.status, 404);
    await missing.text();
  } finally {
    await new Promise((r) => server.close(r));
  }
});

import { RotationMetrics } from '../../src/metrics/registry';

const DAY = 86_400_000;

/**
 * A registry filled through its public setters the way the worker fills it: rotations that ended, platform
 * answers (429s included), and an inventory of a small fleet covering every per-client state, so every metric
 * the registry knows has at least one sample.
 */
export function populatedMetrics(now = Date.now()): RotationMetrics {
  const m = new RotationMetrics(() => now);
  const iso = (offsetMs: number) => new Date(now + offsetMs).toISOString();
  m.recordRotationEnd({ status: 'finalized', errorCode: null, durationMs: 4200 });
  m.recordRotationEnd({ status: 'failed', errorCode: 'COMPENSATION_FAILED', durationMs: 61_000 });
  m.recordRotationEnd({ status: 'refused', errorCode: 'CERT_EXPIRED', durationMs: 300 });
  m.recordPlatformResponse('GET', 200);
  m.recordPlatformResponse('PATCH', 429);
  m.recordPlatformResponse('GET', undefined);
  m.tokenGrants.inc();
  m.daysToExpiry.set({ client_id: 'alpha' }, 9.5);
  // A rotation's own telemetry reading on this worker (src/activities/telemetry.ts).
  m.rotationPinMatchRatio.set({ client_id: 'gamma' }, 0.98);
  m.rotationDraining.set({ client_id: 'gamma' }, 1);
  m.recordInventory({
    takenAt: new Date(now),
    validForSeconds: 7200,
    clients: [
      // expiring with nothing scheduled or running
      { clientId: 'alpha', pins: [{ role: 'primary', notAfter: iso(10 * DAY) }], rotation: null, nextScheduledRotation: null },
      // mid-rotation: waiting for approval
      {
        clientId: 'beta',
        pins: [{ role: 'primary', notAfter: iso(12 * DAY) }, { role: 'backup', notAfter: iso(300 * DAY) }],
        rotation: { awaitingApprovalSince: iso(-5 * 3_600_000), approvalDeadline: iso(19 * 3_600_000), pinMatchRate: null },
        nextScheduledRotation: iso(2 * DAY),
      },
      // draining past maxOverlap, old certificate still in use
      {
        clientId: 'gamma',
        pins: [{ role: 'primary', notAfter: iso(90 * DAY) }, { role: 'fallback', notAfter: iso(3 * DAY) }],
        rotation: { atMaxOverlap: true, pinMatchRate: 0.75 },
        nextScheduledRotation: iso(60 * DAY),
      },
    ],
    rotationsAwaitingApproval: 1,
    rotationsDraining: 1,
    rotationsFailedLastDay: 1,
  });
  return m;
}

/** The sample names (metric names as a query sees them: histograms as _bucket, _sum, _count) of an exposition. */
export function sampleNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

import { ApplicationFailure } from '@temporalio/common';
import { Failure } from '../contract';
import { toFailure } from '../genesys/errors';
import type { PlatformPort } from '../genesys/types';
import type { RotationMetrics } from '../metrics/registry';

/** What a rotation reads of the gateway's handshake telemetry: counts and times only, never chains. */
export interface HandshakeReadingInput {
  clientId: string;
  /** Apply time: the start of the window. */
  since: string;
  /** The pins the drain decision and the match rate are about, by SPKI. */
  primarySpki?: string;
  fallbackSpki?: string;
  /** What the rotation is doing, for the per-rotation gauges. */
  draining?: boolean;
  atMaxOverlap?: boolean;
}

export interface PinCount {
  accepted: number;
  lastSeen: string | null;
}

export interface HandshakeReading {
  since: string;
  until: string;
  accepted: number;
  rejected: number;
  rejectedLastSeen: string | null;
  primary: PinCount;
  fallback: PinCount;
}

/** Reads the telemetry since Apply, sums it per pin of interest and keeps the rotation's gauges current. */
export async function readHandshakes(platform: PlatformPort, metrics: RotationMetrics | undefined, input: HandshakeReadingInput): Promise<HandshakeReading> {
  if (!platform.getHandshakes) {
    throw ApplicationFailure.create({ message: 'this platform adapter cannot read handshake telemetry', type: Failure.TelemetryUnavailable, nonRetryable: true });
  }
  let summary;
  try {
    summary = await platform.getHandshakes(input.clientId, input.since);
  } catch (err) {
    throw toFailure(err);
  }
  const count = (spki: string | undefined): PinCount => {
    const rows = spki ? summary.byPin.filter((p) => p.sha256Spki === spki) : [];
    const lastSeen = rows.map((r) => r.lastSeen).sort().at(-1) ?? null;
    return { accepted: rows.reduce((n, r) => n + r.accepted, 0), lastSeen };
  };
  const reading: HandshakeReading = {
    since: summary.since,
    until: summary.until,
    accepted: summary.accepted,
    rejected: summary.rejected,
    rejectedLastSeen: summary.rejectedLastSeen,
    primary: count(input.primarySpki),
    fallback: count(input.fallbackSpki),
  };
  if (metrics) {
    const labels = { client_id: input.clientId };
    const total = reading.accepted + reading.rejected;
    if (total > 0) metrics.rotationPinMatchRatio.set(labels, reading.accepted / total);
    else metrics.rotationPinMatchRatio.delete(labels);
    metrics.rotationDraining.set(labels, input.atMaxOverlap ? 2 : input.draining ? 1 : 0);
  }
  return reading;
}

/** A rotation ended: its per-rotation series go (the audit record and rotations_total keep its outcome). */
export function clearRotationGauges(metrics: RotationMetrics | undefined, clientId: string): void {
  if (!metrics) return;
  const labels = { client_id: clientId };
  for (const g of [metrics.rotationPinMatchRatio, metrics.rotationDraining]) g.delete(labels);
}

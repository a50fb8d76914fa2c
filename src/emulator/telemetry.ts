import type { Pin, PinRole } from '../pins/types';

/**
 * The gateway's handshake telemetry (DESIGN.md §2): every handshake on the mTLS endpoint, per client, accepted by
 * the pin it matched (by SPKI) or rejected. Kept as per-second buckets, at most MAX_BUCKETS per client: past that
 * the two oldest buckets merge, so totals stay exact and an old count can only look more recent than it was
 * (the safe side for a drain decision).
 */
export const MAX_BUCKETS = 4096;

interface PinCount {
  role: PinRole;
  sha256Certificate: string;
  accepted: number;
  lastSeen: number;
}

interface Bucket {
  /** Seconds (unix) of the first and last handshake counted in it. */
  first: number;
  last: number;
  byPin: Map<string, PinCount>;
  rejected: number;
  rejectedLastSeen: number;
}

/** `GET /api/v2/oauth/clients/{id}/handshakes` (fixed). */
export interface HandshakeSummary {
  clientId: string;
  since: string;
  until: string;
  accepted: number;
  rejected: number;
  byPin: Array<{ role: PinRole; sha256Spki: string; sha256Certificate: string; accepted: number; lastSeen: string }>;
  rejectedLastSeen: string | null;
}

export class HandshakeTelemetry {
  private readonly clients = new Map<string, Bucket[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** One handshake of `clientId`: `pin` is the active pin it matched, undefined when it matched none. */
  record(clientId: string, pin: Pin | undefined): void {
    const at = this.now();
    const second = Math.floor(at / 1000);
    let buckets = this.clients.get(clientId);
    if (!buckets) {
      buckets = [];
      this.clients.set(clientId, buckets);
    }
    let bucket = buckets[buckets.length - 1];
    if (!bucket || bucket.last < second) {
      bucket = { first: second, last: second, byPin: new Map(), rejected: 0, rejectedLastSeen: 0 };
      buckets.push(bucket);
      if (buckets.length > MAX_BUCKETS) merge(buckets);
    }
    if (pin) {
      const count = bucket.byPin.get(pin.sha256Spki);
      if (count) {
        count.accepted += 1;
        count.lastSeen = at;
        count.role = pin.role;
        count.sha256Certificate = pin.sha256Certificate;
      } else {
        bucket.byPin.set(pin.sha256Spki, { role: pin.role, sha256Certificate: pin.sha256Certificate, accepted: 1, lastSeen: at });
      }
    } else {
      bucket.rejected += 1;
      bucket.rejectedLastSeen = at;
    }
  }

  /**
   * Handshakes since `sinceMs` (whole buckets whose last second is at or after it). A pin's `role` is its role
   * in `activePins` when it is still active, else the role it had at its last handshake.
   */
  summary(clientId: string, sinceMs: number, activePins: Pin[]): HandshakeSummary {
    const sinceSecond = Math.floor(sinceMs / 1000);
    const byPin = new Map<string, PinCount>();
    let rejected = 0;
    let rejectedLastSeen = 0;
    for (const bucket of this.clients.get(clientId) ?? []) {
      if (bucket.last < sinceSecond) continue;
      for (const [spki, c] of bucket.byPin) {
        const total = byPin.get(spki);
        if (!total) byPin.set(spki, { ...c });
        else {
          total.accepted += c.accepted;
          if (c.lastSeen >= total.lastSeen) Object.assign(total, { lastSeen: c.lastSeen, role: c.role, sha256Certificate: c.sha256Certificate });
        }
      }
      rejected += bucket.rejected;
      if (bucket.rejected > 0) rejectedLastSeen = Math.max(rejectedLastSeen, bucket.rejectedLastSeen);
    }
    const active = new Map(activePins.map((p) => [p.sha256Spki, p.role]));
    const pins = [...byPin].map(([sha256Spki, c]) => ({
      role: active.get(sha256Spki) ?? c.role,
      sha256Spki,
      sha256Certificate: c.sha256Certificate,
      accepted: c.accepted,
      lastSeen: new Date(c.lastSeen).toISOString(),
    }));
    return {
      clientId,
      since: new Date(sinceMs).toISOString(),
      until: new Date(this.now()).toISOString(),
      accepted: pins.reduce((n, p) => n + p.accepted, 0),
      rejected,
      byPin: pins.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen)),
      rejectedLastSeen: rejected > 0 ? new Date(rejectedLastSeen).toISOString() : null,
    };
  }

  /** Buckets held for `clientId` (bounded-store checks). */
  bucketCount(clientId: string): number {
    return this.clients.get(clientId)?.length ?? 0;
  }

  forget(clientId: string): void {
    this.clients.delete(clientId);
  }

  reset(): void {
    this.clients.clear();
  }
}

/** Folds the oldest bucket into the next one. */
function merge(buckets: Bucket[]): void {
  const [oldest, next] = buckets;
  for (const [spki, c] of oldest.byPin) {
    const into = next.byPin.get(spki);
    if (!into) next.byPin.set(spki, c);
    else {
      into.accepted += c.accepted;
      into.lastSeen = Math.max(into.lastSeen, c.lastSeen);
    }
  }
  next.rejected += oldest.rejected;
  next.rejectedLastSeen = Math.max(next.rejectedLastSeen, oldest.rejectedLastSeen);
  next.first = oldest.first;
  buckets.shift();
}

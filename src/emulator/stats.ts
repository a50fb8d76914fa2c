import type { EmulatorStats } from './types';

/** Collapses ids so counts group by route: `/api/v2/oauth/clients/abc` → `/api/v2/oauth/clients/{id}`. */
export function normaliseRoute(path: string): string {
  if (/^\/api\/v2\/oauth\/clients\/[^/]+$/.test(path)) return '/api/v2/oauth/clients/{id}';
  if (/^\/api\/v2\/oauth\/clients\/[^/]+\/handshakes$/.test(path)) return '/api/v2/oauth/clients/{id}/handshakes';
  if (path === '/api/v2/oauth/clients') return path;
  if (/^\/mtls\/[^/]+$/.test(path)) return '/mtls/{id}';
  if (path === '/oauth/token' || path === '/pki/webhook') return path;
  // Unknown paths share one bucket so random probing cannot grow the table.
  return '*';
}

export class StatsRecorder {
  private requests = new Map<string, Map<string, number>>();
  tokenGrants = 0;
  rateLimited429 = 0;
  faultsInjected = 0;
  webhooksReceived = 0;
  webhookDuplicates = 0;
  private processed = new Map<string, number>();

  /** `status` 0 records a deliberate connection reset. */
  record(method: string, path: string, status: number): void {
    const key = `${method} ${normaliseRoute(path)}`;
    let byStatus = this.requests.get(key);
    if (!byStatus) {
      byStatus = new Map();
      this.requests.set(key, byStatus);
    }
    byStatus.set(String(status), (byStatus.get(String(status)) ?? 0) + 1);
    // Only the platform's own 429s count; an armed PKI receiver answering 429 is not rate limiting.
    if (status === 429 && (path.startsWith('/api/') || path.startsWith('/oauth/'))) this.rateLimited429 += 1;
  }

  processedEvent(event: string): void {
    this.processed.set(event, (this.processed.get(event) ?? 0) + 1);
  }

  snapshot(): EmulatorStats {
    const requests: EmulatorStats['requests'] = {};
    for (const [key, byStatus] of [...this.requests].sort(([a], [b]) => a.localeCompare(b))) {
      requests[key] = Object.fromEntries(byStatus);
    }
    return {
      requests,
      tokenGrants: this.tokenGrants,
      rateLimited429: this.rateLimited429,
      faultsInjected: this.faultsInjected,
      webhooks: {
        received: this.webhooksReceived,
        duplicates: this.webhookDuplicates,
        processed: Object.fromEntries(this.processed),
      },
    };
  }

  reset(): void {
    this.requests = new Map();
    this.processed = new Map();
    this.tokenGrants = 0;
    this.rateLimited429 = 0;
    this.faultsInjected = 0;
    this.webhooksReceived = 0;
    this.webhookDuplicates = 0;
  }
}

import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Pin } from '../pins/types';

/** The PKI manager webhook (DESIGN.md §3): signed, idempotent, 4xx final, 5xx and timeouts retried. */

export type PkiEvent = 'certificate_rotation' | 'rotation_finalized' | 'rotation_rolled_back';

export interface PkiEventBody {
  event: PkiEvent;
  clientId: string;
  serviceId: string;
  pins: Pin[];
  workflowId: string;
  runId: string;
  latencyMs: number;
  occurredAt: string;
}

export interface PkiNotifier {
  notify(body: PkiEventBody): Promise<{ status: number }>;
}

export interface PkiWebhookConfig {
  url: string;
  token: string;
  secret: string;
  timeoutMs?: number;
}

export const PkiFailureType = { Rejected: 'PkiRejected', Unavailable: 'PkiUnavailable' } as const;

export function signBody(rawBody: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

export class PkiWebhookClient implements PkiNotifier {
  constructor(private readonly config: PkiWebhookConfig) {}

  async notify(body: PkiEventBody): Promise<{ status: number }> {
    const raw = JSON.stringify(body);
    let res: Response;
    try {
      res = await fetch(this.config.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${this.config.token}`,
          'X-Signature-256': signBody(raw, this.config.secret),
          'Idempotency-Key': `${body.workflowId}:${body.event}`,
        },
        body: raw,
        signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const reason = err instanceof Error ? (err.name === 'TimeoutError' ? 'timed out' : err.message) : String(err);
      throw ApplicationFailure.create({ message: `PKI webhook ${body.event} unreachable: ${reason}`, type: PkiFailureType.Unavailable });
    }
    // Drain the body so the connection can be reused; its content is the receiver's business.
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return { status: res.status };
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      throw ApplicationFailure.create({
        message: `PKI manager refused ${body.event} with HTTP ${res.status}`,
        type: PkiFailureType.Rejected,
        nonRetryable: true,
        details: [{ status: res.status }],
      });
    }
    throw ApplicationFailure.create({
      message: `PKI manager answered ${body.event} with HTTP ${res.status}`,
      type: PkiFailureType.Unavailable,
      details: [{ status: res.status }],
    });
  }
}

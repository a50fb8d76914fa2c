import type { RateLimitInfo } from './types';

/**
 * Client-side pacing from the platform's `inin-ratelimit-*` headers. The server caps the platform queue with a
 * token bucket per second; the platform counts per token in windows of a minute. A bucket's burst at a window's
 * edge can go a few requests over, each answered 429 and retried only after Retry-After. Holding the request
 * until the window resets instead costs the same wait without the 429 (and without a retry).
 */
export class RatePacer {
  private last?: { info: RateLimitInfo; at: number };
  /** Requests sent and not yet answered: the last answer's count does not include them. */
  private inFlight = 0;

  constructor(
    private readonly now: () => number = Date.now,
    /** Never hold a request longer than this; beyond it the platform's own 429 and Retry-After decide. */
    private readonly maxWaitMs = 10_000,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** How long the next request should wait for the window to reset (0: send now). */
  delayMs(): number {
    if (!this.last) return 0;
    const { info, at } = this.last;
    // The header rounds the reset up to whole seconds, so this errs on the late side.
    const resetsAt = at + info.resetSeconds * 1000;
    const now = this.now();
    if (now >= resetsAt) return 0;
    if (info.count + this.inFlight < info.allowed) return 0;
    const wait = resetsAt - now;
    return wait <= this.maxWaitMs ? wait : 0;
  }

  /** Waits if the current window is spent, then counts the request as in flight until `answered`. */
  async beforeRequest(): Promise<void> {
    const wait = this.delayMs();
    if (wait > 0) await this.sleep(wait);
    this.inFlight += 1;
  }

  /** Records an answer (any status) and the window it reported, if it did. */
  answered(info: RateLimitInfo | undefined): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (info) this.last = { info, at: this.now() };
  }
}

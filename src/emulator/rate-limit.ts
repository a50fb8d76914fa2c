const WINDOW_MS = 60_000;
/** Shown as `inin-ratelimit-allowed` when unlimited, so clients computing `allowed - count` never back off. */
const UNLIMITED = 2_147_483_647;

export interface RateLimitState {
  /** Requests counted in the current window, this one included. */
  count: number;
  allowed: number;
  /** Whole seconds until the window resets (at least 1). */
  resetSeconds: number;
  limited: boolean;
}

interface Window {
  start: number;
  count: number;
}

/** Fixed 60 s windows per access token, like Genesys' per-token limit. `perMinute` 0 means unlimited. */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private lastSweep = 0;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number,
  ) {}

  /** Counts one request for `key`; `limited` says it is over the limit and must be answered 429. */
  hit(key: string): RateLimitState {
    const window = this.current(key, true);
    window.count += 1;
    return this.state(window);
  }

  /** The window of `key` without counting (for answers that did not reach the service, e.g. faults). */
  peek(key: string | undefined): RateLimitState {
    const window = key ? this.current(key, false) : undefined;
    return this.state(window ?? { start: this.now(), count: 0 });
  }

  reset(): void {
    this.windows.clear();
  }

  private current(key: string, create: true): Window;
  private current(key: string, create: false): Window | undefined;
  private current(key: string, create: boolean): Window | undefined {
    const now = this.now();
    this.sweep(now);
    let window = this.windows.get(key);
    if (window && now - window.start >= WINDOW_MS) {
      this.windows.delete(key);
      window = undefined;
    }
    if (!window && create) {
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    return window;
  }

  private state(window: Window): RateLimitState {
    const unlimited = this.perMinute <= 0;
    const resetSeconds = Math.max(1, Math.ceil((window.start + WINDOW_MS - this.now()) / 1000));
    return {
      count: window.count,
      allowed: unlimited ? UNLIMITED : this.perMinute,
      resetSeconds,
      limited: !unlimited && window.count > this.perMinute,
    };
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < WINDOW_MS) return;
    this.lastSweep = now;
    for (const [key, w] of this.windows) if (now - w.start >= WINDOW_MS) this.windows.delete(key);
  }
}

export function rateLimitHeaders(s: RateLimitState): Record<string, string> {
  return {
    'inin-ratelimit-count': String(s.count),
    'inin-ratelimit-allowed': String(s.allowed),
    'inin-ratelimit-reset': String(s.resetSeconds),
  };
}

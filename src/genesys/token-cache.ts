/**
 * One access token per worker, shared by every activity: fetched once, renewed ahead of `expires_in` (the SDK
 * never renews client-credentials tokens itself), and concurrent callers wait on the same grant.
 */
export interface GrantedToken {
  accessToken: string;
  expiresInSeconds: number;
}

export class TokenCache {
  private token?: string;
  private expiresAt = 0;
  private pending?: Promise<string>;
  grants = 0;

  constructor(
    private readonly grant: () => Promise<GrantedToken>,
    private readonly now: () => number = Date.now,
    /** Renew when less than this share of the lifetime is left (and never later than 60 s before expiry). */
    private readonly renewShare = 0.1,
  ) {}

  async get(): Promise<string> {
    if (this.token && this.now() < this.expiresAt) return this.token;
    if (!this.pending) {
      this.pending = this.fetch().finally(() => {
        this.pending = undefined;
      });
    }
    return this.pending;
  }

  /** Drops the token after a 401 so the next call fetches a fresh one. */
  invalidate(token: string): void {
    if (this.token === token) {
      this.token = undefined;
      this.expiresAt = 0;
    }
  }

  private async fetch(): Promise<string> {
    const started = this.now();
    const granted = await this.grant();
    this.grants += 1;
    const lifetimeMs = Math.max(0, granted.expiresInSeconds * 1000);
    const margin = Math.max(Math.min(60_000, lifetimeMs / 2), lifetimeMs * this.renewShare);
    this.token = granted.accessToken;
    this.expiresAt = started + lifetimeMs - margin;
    return granted.accessToken;
  }
}

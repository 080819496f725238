interface Entry<T> {
  readonly caller: T;
  /** Token expiry (ms since epoch) — a cached token is never honoured past it. */
  readonly expiresAt: number;
  /** When the user row was read; after `userTtlMs` it is read again. */
  readonly loadedAt: number;
}

/**
 * Verified tokens and their callers (with the user row of a user or operation token), so a client's repeated calls skip the RS256
 * verification and the user lookup (measured: the authenticated project read spent most of
 * its time there — bench/RESULTS.md `project-read`). Only tokens that verified and whose
 * user exists are cached; the signature was checked on the exact same string, and expiry is
 * checked on every use. The user row may be up to `userTtlMs` old (users are never deleted
 * through the API; a rename shows after at most that long). Bounded: oldest entries go first.
 */
export class IdentityCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly userTtlMs = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  get(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    const now = this.clock();
    if (now >= entry.expiresAt || now - entry.loadedAt >= this.userTtlMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.caller;
  }

  set(token: string, caller: T, expiresAtMs: number): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, { caller, expiresAt: expiresAtMs, loadedAt: this.clock() });
  }
}

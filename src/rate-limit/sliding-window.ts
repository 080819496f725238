/**
 * Sliding-window-log rate limiting: a request is admitted when fewer than `limit` requests
 * were admitted in the last `windowMs` (the window ends now). Unlike fixed windows, a burst
 * at the end of one minute plus a burst at the start of the next can never exceed the limit
 * within any 60 s span. All limits of a request are checked together and a request counts
 * against all of them only when every one admits it.
 */

export type LimitKind = 'ip' | 'user' | 'project';

export interface LimitCheck {
  readonly kind: LimitKind;
  /** Key in the store, e.g. rate_limit:user:<id>:60000 */
  readonly key: string;
  readonly limit: number;
}

export interface LimitState {
  readonly kind: LimitKind;
  readonly limit: number;
  /** Requests left in the window after this one (0 when rejected). */
  readonly remaining: number;
  /** Seconds until the oldest counted request leaves the window (a slot frees). */
  readonly resetSeconds: number;
}

export interface LimitDecision {
  readonly allowed: boolean;
  readonly states: readonly LimitState[];
}

export interface LimitStore {
  check(checks: readonly LimitCheck[], windowMs: number): Promise<LimitDecision>;
}

/** Turns raw counts into the decision; shared by both stores so they cannot drift apart. */
export function decide(
  checks: readonly LimitCheck[],
  counts: ReadonlyArray<{ count: number; oldest: number | null }>,
  allowed: boolean,
  now: number,
  windowMs: number,
): LimitDecision {
  const states = checks.map((c, i) => {
    const { count, oldest } = counts[i] ?? { count: 0, oldest: null };
    const used = allowed ? count + 1 : count;
    const first = oldest ?? now;
    return {
      kind: c.kind,
      limit: c.limit,
      remaining: Math.max(0, c.limit - used),
      resetSeconds: Math.max(1, Math.ceil((first + windowMs - now) / 1000)),
    };
  });
  return { allowed, states };
}

/** Single-instance store (development, tests without Redis): the same algorithm in memory. */
export class InMemoryLimitStore implements LimitStore {
  private readonly logs = new Map<string, number[]>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly clock: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  async check(checks: readonly LimitCheck[], windowMs: number): Promise<LimitDecision> {
    const now = this.clock();
    const counts = checks.map((c) => {
      const log = this.logs.get(c.key) ?? [];
      while (log.length > 0 && (log[0] ?? 0) <= now - windowMs) log.shift();
      this.logs.set(c.key, log);
      return { count: log.length, oldest: log[0] ?? null };
    });
    const allowed = checks.every((c, i) => (counts[i]?.count ?? 0) < c.limit);
    if (allowed) for (const c of checks) this.logs.get(c.key)?.push(now);
    return decide(checks, counts, allowed, now, windowMs);
  }

  private sweep(): void {
    const horizon = this.clock() - 3_600_000;
    for (const [key, log] of this.logs) if ((log[log.length - 1] ?? 0) < horizon) this.logs.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/**
 * The Generic Cell Rate Algorithm (docs/adr/0024-rate-limit-gcra.md): a limit of `limit`
 * requests per `windowMs` is one request every emission interval T = windowMs / limit, with a
 * burst of up to `limit` at once. Per key the store keeps one number, the theoretical arrival
 * time (TAT) of the next request, so memory per key does not depend on the limit. Times are
 * whole microseconds: exact in a double and in Redis's integer replies.
 *
 * Guarantee: from an idle key, a burst of exactly `limit` is admitted and the next refused; one
 * more is admitted each T after that. Over any span of s µs at most `limit + floor(s / T)`
 * requests are admitted (so at most 2 × limit within one window, only right after a full
 * bucket), and the long-run rate never exceeds limit per window.
 */

export type LimitKind = 'ip' | 'user' | 'project';

export interface LimitCheck {
  readonly kind: LimitKind;
  /** Key in the store (keys.ts). */
  readonly key: string;
  readonly limit: number;
}

export interface LimitState {
  readonly kind: LimitKind;
  readonly limit: number;
  /** Requests that could still be admitted now, after this one (0 when refused). */
  readonly remaining: number;
  /** Seconds until the whole quota is back (the `t` of the RateLimit header); at least 1. */
  readonly resetSeconds: number;
  /** Seconds until one more request would be admitted (Retry-After when refused); at least 1. */
  readonly retryAfterSeconds: number;
}

export interface LimitDecision {
  readonly allowed: boolean;
  readonly states: readonly LimitState[];
}

export interface LimitStore {
  check(checks: readonly LimitCheck[], windowMs: number): Promise<LimitDecision>;
}

export interface GcraParams {
  /** T in µs; at least 1, rounded down so that a burst of exactly `limit` always fits. */
  readonly intervalUs: number;
  /** How far ahead of now the TAT may run: limit × T (≤ the window by the rounding). */
  readonly toleranceUs: number;
}

export function gcraParams(limit: number, windowMs: number): GcraParams {
  const intervalUs = Math.max(1, Math.floor((windowMs * 1000) / limit));
  return { intervalUs, toleranceUs: intervalUs * limit };
}

/** What one key answered: admitted or not, the store's clock and the TAT after the request. */
export interface TakeResult {
  readonly allowed: boolean;
  readonly nowUs: number;
  readonly tatUs: number;
}

/** One request against one key: the arithmetic the Lua script (redis-store.ts) repeats. */
export function gcraTake(storedTatUs: number | null, nowUs: number, p: GcraParams): TakeResult {
  const next = Math.max(storedTatUs ?? nowUs, nowUs) + p.intervalUs;
  if (next - nowUs > p.toleranceUs) return { allowed: false, nowUs, tatUs: Math.max(storedTatUs ?? nowUs, nowUs) };
  return { allowed: true, nowUs, tatUs: next };
}

/** The TAT after giving one request back; null when nothing is owed any more (the key can go). */
export function gcraRefund(storedTatUs: number | null, nowUs: number, p: GcraParams): number | null {
  if (storedTatUs === null) return null;
  const back = storedTatUs - p.intervalUs;
  return back > nowUs ? back : null;
}

const seconds = (us: number) => Math.max(1, Math.ceil(us / 1_000_000));

export function stateOf(check: LimitCheck, p: GcraParams, r: TakeResult): LimitState {
  const ahead = Math.max(0, r.tatUs - r.nowUs);
  return {
    kind: check.kind,
    limit: check.limit,
    remaining: r.allowed ? Math.floor((p.toleranceUs - ahead) / p.intervalUs) : 0,
    resetSeconds: seconds(ahead),
    retryAfterSeconds: seconds(ahead + p.intervalUs - p.toleranceUs),
  };
}

/** A store of TATs: one call per key, each atomic on its own (one hash slot, keys.ts). */
export interface TatStore {
  take(key: string, p: GcraParams): Promise<TakeResult>;
  /** Best effort: gives back a request that another limit refused. */
  refund(key: string, p: GcraParams): Promise<void>;
}

/**
 * Several limits for one request (user and project live in different hash slots): every key is
 * taken at once (one round trip, no cross-slot script). When any refuses, those that admitted
 * get the request back (fire and forget, so a 429 costs no second wait), so a refused request
 * counts against none of them. Between the take and the refund, a concurrent request may see
 * the charge and be refused: the error is on the side of refusing, never of admitting more.
 */
export async function checkAll(store: TatStore, checks: readonly LimitCheck[], windowMs: number): Promise<LimitDecision> {
  const params = checks.map((c) => gcraParams(c.limit, windowMs));
  const results = await Promise.all(checks.map((c, i) => store.take(c.key, params[i] as GcraParams)));
  const allowed = results.every((r) => r.allowed);
  const states = checks.map((c, i) => {
    const p = params[i] as GcraParams;
    const r = results[i] as TakeResult;
    if (allowed || !r.allowed) return stateOf(c, p, r);
    store.refund(c.key, p).catch(() => undefined); // a lost refund only refuses more (see above)
    const tatUs = gcraRefund(r.tatUs, r.nowUs, p) ?? r.nowUs;
    return stateOf(c, p, { allowed: true, nowUs: r.nowUs, tatUs });
  });
  return { allowed, states };
}

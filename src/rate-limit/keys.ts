import type { LimitKind } from './gcra.js';

/**
 * Where a limit lives in Redis: `rate_limit:{<kind>:<id>}:<window ms>`. The braces are a Redis
 * Cluster hash tag: only the identity decides the slot, and every script call touches the one
 * key of one identity, so no call can cross slots (docs/adr/0024-rate-limit-gcra.md). The
 * window is part of the key so a changed window starts afresh instead of misreading a TAT; the
 * brace form also keeps these keys apart from the sorted sets of the old sliding log
 * (`rate_limit:<kind>:<id>:<window>`) during a rolling deploy.
 */
export function limitKey(kind: LimitKind, id: string, windowMs: number): string {
  return `rate_limit:{${kind}:${id}}:${windowMs}`;
}

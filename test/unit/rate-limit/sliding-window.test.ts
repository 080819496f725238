import { describe, expect, it } from 'vitest';
import { InMemoryLimitStore, type LimitCheck } from '../../../src/rate-limit/sliding-window.js';

describe('InMemoryLimitStore (the same sliding-window log as the Redis script)', () => {
  const check: LimitCheck = { kind: 'ip', key: 'k', limit: 3 };

  it('never admits more than the limit within any window span, across a window edge', async () => {
    let now = 0;
    const store = new InMemoryLimitStore(() => now);
    const admitted: number[] = [];
    // Requests every 50 ms for 5 s with a 1 s window and limit 3.
    for (now = 0; now < 5_000; now += 50) if ((await store.check([check], 1_000)).allowed) admitted.push(now);
    for (const t of admitted) expect(admitted.filter((u) => u > t - 1_000 && u <= t).length).toBeLessThanOrEqual(3);
    expect(admitted.length).toBeGreaterThanOrEqual(14);
    store.close();
  });

  it('counts a request against every limit only when all admit it, and reports the tightest reset', async () => {
    let now = 1_000;
    const store = new InMemoryLimitStore(() => now);
    const user: LimitCheck = { kind: 'user', key: 'u', limit: 1 };
    const first = await store.check([check, user], 60_000);
    expect(first.allowed).toBe(true);
    expect(first.states.map((s) => s.remaining)).toEqual([2, 0]);
    now += 10_000;
    const second = await store.check([check, user], 60_000);
    expect(second.allowed).toBe(false);
    expect(second.states.find((s) => s.kind === 'user')?.resetSeconds).toBe(50);
    // The rejected request did not consume the IP quota.
    expect(second.states.find((s) => s.kind === 'ip')?.remaining).toBe(2);
    store.close();
  });
});

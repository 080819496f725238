import { describe, expect, it } from 'vitest';
import { gcraParams, type LimitCheck } from '../../../src/rate-limit/gcra.js';
import { InMemoryLimitStore } from '../../../src/rate-limit/memory-store.js';

describe('InMemoryLimitStore (GCRA, the same arithmetic as the Redis script)', () => {
  const ip: LimitCheck = { kind: 'ip', key: 'k', limit: 5 };

  it('when a key is idle, a burst of exactly the limit is admitted, the next refused, and one more after each emission interval', async () => {
    let now = 1_000;
    const store = new InMemoryLimitStore(() => now);
    const burst = [];
    for (let i = 0; i < 6; i++) burst.push(await store.check([ip], 1_000));
    expect(burst.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(burst.map((d) => d.states[0]?.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    now += 199; // T = 1000 ms / 5 = 200 ms
    expect((await store.check([ip], 1_000)).allowed).toBe(false);
    now += 1;
    expect((await store.check([ip], 1_000)).allowed).toBe(true);
    expect((await store.check([ip], 1_000)).allowed).toBe(false);
    store.close();
  });

  it('over any span of s ms it admits at most limit + floor(s / T), and the long-run rate is the limit', async () => {
    let now = 0;
    const store = new InMemoryLimitStore(() => now);
    const admitted: number[] = [];
    // A request every 10 ms for 10 s, limit 5 per 1 s window (T = 200 ms).
    for (now = 0; now < 10_000; now += 10) if ((await store.check([ip], 1_000)).allowed) admitted.push(now);
    for (const start of admitted) {
      for (const span of [1, 199, 200, 999, 1_000, 3_000]) {
        expect(admitted.filter((t) => t >= start && t < start + span).length).toBeLessThanOrEqual(5 + Math.floor(span / 200));
      }
    }
    expect(admitted.length).toBe(5 + Math.floor(9_990 / 200));
    store.close();
  });

  it('counts a request against every limit only when all admit it; the refused one reports when to retry', async () => {
    let now = 1_000;
    const store = new InMemoryLimitStore(() => now);
    const user: LimitCheck = { kind: 'user', key: 'u', limit: 1 };
    const first = await store.check([ip, user], 60_000);
    expect(first.allowed).toBe(true);
    expect(first.states.map((s) => s.remaining)).toEqual([4, 0]);
    now += 10_000;
    const second = await store.check([ip, user], 60_000);
    expect(second.allowed).toBe(false);
    expect(second.states.find((s) => s.kind === 'user')?.retryAfterSeconds).toBe(50);
    // The refused request was given back to the IP limit: its quota is as the first request left it.
    expect(second.states.find((s) => s.kind === 'ip')?.remaining).toBe(4);
    expect((await store.check([ip], 60_000)).states[0]?.remaining).toBe(3);
    now += 50_000;
    expect((await store.check([ip, user], 60_000)).allowed).toBe(true);
    store.close();
  });

  it('the RateLimit reset is when the whole quota is back; Retry-After when one request is', async () => {
    let now = 0;
    const store = new InMemoryLimitStore(() => now);
    const perMinute: LimitCheck = { kind: 'project', key: 'p', limit: 3 };
    let last = await store.check([perMinute], 60_000);
    expect(last.states[0]).toMatchObject({ remaining: 2, resetSeconds: 20 });
    for (let i = 0; i < 3; i++) last = await store.check([perMinute], 60_000);
    expect(last.allowed).toBe(false);
    expect(last.states[0]).toMatchObject({ remaining: 0, resetSeconds: 60, retryAfterSeconds: 20 });
    now += 19_500;
    expect((await store.check([perMinute], 60_000)).states[0]?.retryAfterSeconds).toBe(1);
    store.close();
  });
});

describe('gcraParams', () => {
  it('rounds the emission interval down to whole µs (at least 1) so a burst of exactly the limit fits the window', () => {
    expect(gcraParams(7, 60_000)).toEqual({ intervalUs: 8_571_428, toleranceUs: 59_999_996 });
    expect(gcraParams(1_000_000, 60_000)).toEqual({ intervalUs: 60, toleranceUs: 60_000_000 });
    expect(gcraParams(1_000_000, 100)).toEqual({ intervalUs: 1, toleranceUs: 1_000_000 });
  });
});

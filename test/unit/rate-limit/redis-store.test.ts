import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitCheck } from '../../../src/rate-limit/gcra.js';
import { limitKey } from '../../../src/rate-limit/keys.js';
import { RedisLimitStore } from '../../../src/rate-limit/redis-store.js';
import { closeWhenFileEnds } from '../../helpers/fixtures.js';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.js';

let server: RedisServer;
let redis: Redis;
let monitor: Redis;
/** The keys of every script call Redis ran, as Redis saw them (MONITOR). */
const scriptCalls: string[][] = [];

beforeAll(async () => {
  server = await startRedisServer();
  closeWhenFileEnds(server.stop);
  redis = new Redis(server.url);
  // Nothing else may talk to Redis while the monitor connection does its own handshake: a command
  // seen on the feed before MONITOR's answer breaks ioredis's reply queue ("Command queue state
  // error", seen once in CI on `redis`'s own ready check). So `redis` is ready first, and the
  // monitor is its duplicate (ioredis opens one connection for it).
  await redis.ping();
  monitor = await redis.monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    const [command, , numKeys, ...rest] = args;
    if (command === 'evalsha' || command === 'eval') scriptCalls.push(rest.slice(0, Number(numKeys)));
  });
});

afterAll(() => {
  monitor?.disconnect();
  redis?.disconnect();
});

/** The Redis Cluster hash tag of a key: the text between the first `{` and the next `}` (when not empty). */
function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : null;
}

describe('RedisLimitStore key layout (Redis Cluster: no script may cross hash slots)', () => {
  it('every script call, taking or refunding, touches keys of one {hash tag}, the identity of one limit', async () => {
    const store = new RedisLimitStore(redis);
    const checks: LimitCheck[] = [
      { kind: 'user', key: limitKey('user', 'u-1', 60_000), limit: 2 },
      { kind: 'project', key: limitKey('project', 'p-1', 60_000), limit: 1 },
    ];
    await store.check([{ kind: 'ip', key: limitKey('ip', '2001:db8:1:2::/64', 60_000), limit: 5 }], 60_000);
    await store.check(checks, 60_000); // admitted by both
    await store.check(checks, 60_000); // refused by the project, given back to the user: a refund call
    await redis.ping(); // MONITOR has seen everything sent before this
    await new Promise((r) => setTimeout(r, 50));
    expect(scriptCalls.length).toBe(6);
    for (const keys of scriptCalls) {
      const tags = keys.map(hashTag);
      expect(tags[0]).not.toBeNull();
      expect(new Set(tags).size).toBe(1);
    }
    expect(scriptCalls.map((keys) => hashTag(keys[0] ?? ''))).toEqual([
      'ip:2001:db8:1:2::/64',
      'user:u-1',
      'project:p-1',
      'user:u-1',
      'project:p-1',
      'user:u-1',
    ]);
  });
});

describe('RedisLimitStore (GCRA in Lua on Redis time)', () => {
  it('when a key is idle, admits a burst of exactly the limit, refuses the next, and keeps one string whatever the limit', async () => {
    const store = new RedisLimitStore(redis);
    const small = { kind: 'ip', key: limitKey('ip', 'small', 600_000), limit: 3 } as const;
    // T = 60 ms: 50 requests in a row keep the key alive (it expires when its TAT passes).
    const large = { kind: 'ip', key: limitKey('ip', 'large', 600_000), limit: 10_000 } as const;
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await store.check([small], 600_000));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.states[0]?.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions[3]?.states[0]?.retryAfterSeconds).toBeGreaterThan(190); // T = 200 s
    for (let i = 0; i < 50; i++) await store.check([large], 600_000);
    expect(await redis.type(small.key)).toBe('string');
    expect(await redis.memory('USAGE', large.key)).toBe(await redis.memory('USAGE', small.key));
    const ttl = await redis.pttl(small.key);
    expect(ttl).toBeGreaterThan(599_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
  });
});

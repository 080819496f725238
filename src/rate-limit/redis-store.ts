import type { Cluster, Redis } from 'ioredis';
import { checkAll, type GcraParams, type LimitCheck, type LimitDecision, type LimitStore, type TakeResult } from './gcra.js';

/*
 * GCRA on one key per script call (docs/adr/0024-rate-limit-gcra.md): TIME, GET, and SET only
 * when admitted — three commands, one string per key whatever the limit. The clock is Redis's
 * own (TIME), so instances with skewed clocks agree. Times are whole µs, written with
 * string.format('%.0f') because Lua's tostring keeps only 14 digits. The key expires when its
 * TAT passes (an expired key is a full quota). Same arithmetic as gcraTake/gcraRefund.
 */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

const TAKE = `${NOW}
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > tolerance then return {0, now, tat} end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000))
return {1, now, nxt}
`;

const REFUND = `${NOW}
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local back = tat - tonumber(ARGV[1])
if back > now then
  redis.call('SET', KEYS[1], string.format('%.0f', back), 'PX', math.ceil((back - now) / 1000))
else
  redis.call('DEL', KEYS[1])
end
return 1
`;

type WithScripts = (Redis | Cluster) & {
  jeexGcraTake(key: string, intervalUs: number, toleranceUs: number): Promise<[number, number, number]>;
  jeexGcraRefund(key: string, intervalUs: number): Promise<number>;
};

export class RedisLimitStore implements LimitStore {
  private readonly redis: WithScripts;

  constructor(redis: Redis | Cluster) {
    redis.defineCommand('jeexGcraTake', { lua: TAKE, numberOfKeys: 1 });
    redis.defineCommand('jeexGcraRefund', { lua: REFUND, numberOfKeys: 1 });
    this.redis = redis as WithScripts;
  }

  check(checks: readonly LimitCheck[], windowMs: number): Promise<LimitDecision> {
    return checkAll(this, checks, windowMs);
  }

  async take(key: string, p: GcraParams): Promise<TakeResult> {
    const [allowed, nowUs, tatUs] = await this.redis.jeexGcraTake(key, p.intervalUs, p.toleranceUs);
    return { allowed: Number(allowed) === 1, nowUs: Number(nowUs), tatUs: Number(tatUs) };
  }

  async refund(key: string, p: GcraParams): Promise<void> {
    await this.redis.jeexGcraRefund(key, p.intervalUs);
  }
}

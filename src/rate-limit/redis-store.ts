import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { decide, type LimitCheck, type LimitDecision, type LimitStore } from './sliding-window.js';

/*
 * One round trip per request, atomic across instances: the script trims each key's log to
 * the window, checks every limit, and records the request in all of them only if all admit
 * it — so two instances can never both admit the last request. The clock is Redis's own
 * (TIME), so instances with skewed clocks still agree. Keys expire by themselves.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local out = {0, now}
local allowed = 1
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if count >= tonumber(ARGV[2 + i]) then allowed = 0 end
  out[#out + 1] = count
  out[#out + 1] = oldest[2] or -1
end
if allowed == 1 then
  for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[2])
    redis.call('PEXPIRE', key, window)
  end
end
out[1] = allowed
return out
`;

type WithScript = Redis & { jeexRateLimit(...args: Array<string | number>): Promise<Array<number | string>> };

export class RedisLimitStore implements LimitStore {
  private readonly redis: WithScript;

  constructor(redis: Redis) {
    redis.defineCommand('jeexRateLimit', { lua: SCRIPT });
    this.redis = redis as WithScript;
  }

  async check(checks: readonly LimitCheck[], windowMs: number): Promise<LimitDecision> {
    // A unique member per request: two requests in the same millisecond both count.
    const member = `${Date.now()}-${randomBytes(6).toString('hex')}`;
    const raw = await this.redis.jeexRateLimit(checks.length, ...checks.map((c) => c.key), windowMs, member, ...checks.map((c) => c.limit));
    const allowed = Number(raw[0]) === 1;
    const now = Number(raw[1]);
    const counts = checks.map((_c, i) => {
      const oldest = Number(raw[3 + i * 2]);
      return { count: Number(raw[2 + i * 2]), oldest: oldest < 0 ? null : oldest };
    });
    return decide(checks, counts, allowed, now, windowMs);
  }
}

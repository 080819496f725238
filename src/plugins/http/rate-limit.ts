import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { RateLimitedError } from '../../lib/errors.js';
import { throttledWarning } from '../../lib/throttled-warning.js';
import { RedisLimitStore } from '../../rate-limit/redis-store.js';
import { InMemoryLimitStore, type LimitCheck, type LimitDecision, type LimitStore } from '../../rate-limit/sliding-window.js';
import { rateLimitBypassed, rateLimitRejected } from '../../telemetry/metrics.js';
import { appendRouteHook } from './route-hooks.js';

/** How long the limiter waits for Redis before admitting the request anyway (REL-001). */
const STORE_TIMEOUT_MS = 250;

class StoreTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreTimeout(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** IETF draft-ietf-httpapi-ratelimit-headers: every applicable policy, and the tightest state. */
function headersFor(decision: LimitDecision, windowSeconds: number): Record<string, string> {
  const policy = decision.states.map((s) => `"${s.kind}";q=${s.limit};w=${windowSeconds}`).join(', ');
  const tightest = decision.states.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  return { 'ratelimit-policy': policy, ratelimit: `"${tightest.kind}";r=${tightest.remaining};t=${tightest.resetSeconds}` };
}

/**
 * Rate limiting (issue 8): per client IP, per user and per project, sliding one-minute
 * windows, checked in one store round trip after authentication and project access. Health
 * and documentation routes are never limited (`config.rateLimit: false`). A limit of 0 is
 * off; with all three off the hook is not even installed.
 */
const rateLimit: FastifyPluginCallback<{ config: Config }> = (app, { config }, done) => {
  const limits = { ip: config.rateLimitPerMinuteIp, user: config.rateLimitPerMinuteUser, project: config.rateLimitPerMinuteProject };
  if (limits.ip === 0 && limits.user === 0 && limits.project === 0) {
    done();
    return;
  }
  const window = config.rateLimitWindowMs;
  const windowSeconds = Math.ceil(window / 1000);
  let store: LimitStore;
  if (app.redis) {
    store = new RedisLimitStore(app.redis);
  } else {
    const memory = new InMemoryLimitStore();
    app.addHook('onClose', (_i, next) => {
      memory.close();
      next();
    });
    store = memory;
  }
  const warn = throttledWarning(app.log);

  const checksFor = (request: FastifyRequest): LimitCheck[] => {
    const checks: LimitCheck[] = [];
    if (limits.ip > 0) checks.push({ kind: 'ip', key: `rate_limit:ip:${request.ip}:${window}`, limit: limits.ip });
    if (limits.user > 0 && request.user)
      checks.push({ kind: 'user', key: `rate_limit:user:${request.user.id}:${window}`, limit: limits.user });
    if (limits.project > 0 && request.project) {
      checks.push({ kind: 'project', key: `rate_limit:project:${request.project.projectId}:${window}`, limit: limits.project });
    }
    return checks;
  };

  const limit = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const checks = checksFor(request);
    if (checks.length === 0) return;
    let decision: LimitDecision;
    try {
      decision = await withTimeout(store.check(checks, window), STORE_TIMEOUT_MS);
    } catch (error) {
      // Fail open: a limiter outage must never become an API outage (REL-001).
      rateLimitBypassed.add(1);
      warn(
        'rate-limit-store',
        { reason: error instanceof Error ? error.message : String(error) },
        'rate limiter unavailable: admitting requests',
      );
      return;
    }
    reply.headers(headersFor(decision, windowSeconds));
    if (!decision.allowed) {
      const hit = decision.states.filter((s) => s.remaining === 0);
      // The limit that frees up last decides when a retry can succeed.
      const first = hit.reduce((a, b) => (b.resetSeconds > a.resetSeconds ? b : a));
      rateLimitRejected.add(1, { limit: first.kind });
      throw new RateLimitedError(`Rate limit exceeded (${first.kind}): retry in ${first.resetSeconds} s`, first.resetSeconds, {
        limit: first.kind,
        limits: hit.map((s) => ({ kind: s.kind, limit: s.limit, window_seconds: windowSeconds, retry_after: s.resetSeconds })),
      });
    }
  };

  // After authentication and project access (registered before this plugin), so the user and
  // project limits know whom to count; health and documentation opt out.
  app.addHook('onRoute', (route) => {
    if (route.config?.rateLimit !== false) appendRouteHook(route, 'preValidation', limit);
  });
  done();
};

export default fp(rateLimit, { name: 'rate-limit', fastify: '5.x', dependencies: ['project-access', 'redis'] });

import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { RateLimitedError } from '../../lib/errors.js';
import { throttledWarning } from '../../lib/throttled-warning.js';
import type { LimitCheck, LimitDecision, LimitState, LimitStore } from '../../rate-limit/gcra.js';
import { limitKey } from '../../rate-limit/keys.js';
import { InMemoryLimitStore } from '../../rate-limit/memory-store.js';
import { RedisLimitStore } from '../../rate-limit/redis-store.js';
import { rateLimitBypassed, rateLimitRejected } from '../../telemetry/metrics.js';
import { rateLimitClientKey } from './client-address.js';
import { isUnlimitedRoute } from './route-policy.js';

type LimitStep = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The two rate-limit steps of the request chain (installed in src/app.ts); null when that limit is off. */
    rateLimits: { readonly byIp: LimitStep | null; readonly byUserAndProject: LimitStep | null };
  }
  interface FastifyRequest {
    /** The limits already counted for this request (the IP one), so the headers show every policy. */
    limitStates: readonly LimitState[] | null;
  }
}

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
function headersFor(states: readonly LimitState[], windowSeconds: number): Record<string, string> {
  const policy = states.map((s) => `"${s.kind}";q=${s.limit};w=${windowSeconds}`).join(', ');
  const tightest = states.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  return { 'ratelimit-policy': policy, ratelimit: `"${tightest.kind}";r=${tightest.remaining};t=${tightest.resetSeconds}` };
}

/**
 * Rate limiting (issue 8, issue 19; docs/adr/0024-rate-limit-gcra.md): per client IP (IPv6 per
 * /64), per user and per project, GCRA over one-minute windows (src/rate-limit/gcra.ts). Two steps of the chain: the IP
 * limit runs first of all (onRequest, before authentication, so floods of 401, 403, 404 and
 * 413 are limited and cost no token check or membership query past the limit); the user and
 * project limits run once those are known (preValidation, after project access). Health and
 * documentation are never limited (route-policy.ts). A limit of 0 is off; a step whose limits
 * are all off is not installed at all.
 */
const rateLimit: FastifyPluginCallback<{ config: Config }> = (app, { config }, done) => {
  const limits = { ip: config.rateLimitPerMinuteIp, user: config.rateLimitPerMinuteUser, project: config.rateLimitPerMinuteProject };
  if (limits.ip === 0 && limits.user === 0 && limits.project === 0) {
    app.decorate('rateLimits', { byIp: null, byUserAndProject: null });
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
  app.decorateRequest('limitStates', null);

  /** Counts the request against `checks`; 429 when any is exhausted. Fails open (REL-001). */
  const enforce = async (request: FastifyRequest, reply: FastifyReply, checks: LimitCheck[]): Promise<void> => {
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
    const states = [...(request.limitStates ?? []), ...decision.states];
    request.limitStates = states;
    reply.headers(headersFor(states, windowSeconds));
    if (!decision.allowed) {
      const hit = decision.states.filter((s) => s.remaining === 0);
      // The limit that frees up last decides when a retry can succeed.
      const first = hit.reduce((a, b) => (b.retryAfterSeconds > a.retryAfterSeconds ? b : a));
      rateLimitRejected.add(1, { limit: first.kind });
      throw new RateLimitedError(`Rate limit exceeded (${first.kind}): retry in ${first.retryAfterSeconds} s`, first.retryAfterSeconds, {
        limit: first.kind,
        limits: hit.map((s) => ({ kind: s.kind, limit: s.limit, window_seconds: windowSeconds, retry_after: s.retryAfterSeconds })),
      });
    }
  };

  const byIp: LimitStep | null =
    limits.ip === 0
      ? null
      : async function limitByIp(request, reply) {
          if (isUnlimitedRoute(request.routeOptions)) return;
          const key = limitKey('ip', rateLimitClientKey(request.ip), window);
          await enforce(request, reply, [{ kind: 'ip', key, limit: limits.ip }]);
        };

  const byUserAndProject: LimitStep | null =
    limits.user === 0 && limits.project === 0
      ? null
      : async function limitByUserAndProject(request, reply) {
          if (isUnlimitedRoute(request.routeOptions)) return;
          const checks: LimitCheck[] = [];
          if (limits.user > 0 && request.user)
            checks.push({ kind: 'user', key: limitKey('user', request.user.id, window), limit: limits.user });
          if (limits.project > 0 && request.project) {
            checks.push({ kind: 'project', key: limitKey('project', request.project.projectId, window), limit: limits.project });
          }
          await enforce(request, reply, checks);
        };

  app.decorate('rateLimits', { byIp, byUserAndProject });
  done();
};

export default fp(rateLimit, { name: 'rate-limit', fastify: '5.x', dependencies: ['redis'] });

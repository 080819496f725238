import { trace } from '@opentelemetry/api';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type Caller, userOfCaller } from '../../auth/caller.js';
import type { User } from '../../db/types.js';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors.js';
import { currentContext } from '../../lib/request-context.js';
import { needsToken } from './route-policy.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The authentication step of the request chain (installed in src/app.ts). */
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /**
     * The user the request acts for; set by the authentication step on every non-public route:
     * the token's user, or the creator an operation token acts for; null for a worker credential.
     */
    user: User | null;
    /** Who is calling (src/auth/caller.ts); null on public routes. */
    caller: Caller | null;
    /** When the caller's token expires (ms since epoch): an event stream ends then (docs/adr/0019). */
    tokenExpiresAt: number | null;
  }
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
    if (!match?.[1]) throw new UnauthorizedError('Malformed Authorization header: expected "Bearer <token>"');
    return match[1];
  }
  // Browser EventSource cannot send headers: the event-stream route alone takes the token
  // in the query (never logged: see safeUrl).
  if (request.routeOptions.config.allowQueryToken) {
    const query = request.query as { access_token?: unknown } | undefined;
    if (typeof query?.access_token === 'string' && query.access_token.length > 0) return query.access_token;
  }
  throw new UnauthorizedError('Authentication required');
}

/**
 * Which tokens a route takes (docs/contract.md §8, docs/adr/0020): worker routes take worker
 * credentials only; user routes never take them; an operation token works only on routes of a
 * project (the guard then holds it to its own project, lease and role).
 */
function assertRouteTakes(request: FastifyRequest, caller: Caller): void {
  const config = request.routeOptions.config;
  if (config.worker === true) {
    if (caller.kind !== 'worker') throw new ForbiddenError('This route takes a worker credential');
    return;
  }
  if (caller.kind === 'worker') throw new ForbiddenError('A worker credential works on the worker routes only');
  if (caller.kind === 'operation' && config.projectRole === undefined) {
    throw new ForbiddenError("An operation token works only on its project's routes");
  }
}

/**
 * Authentication (REQ-003, REQ-007): every route requires a valid token whose `sub` is an
 * existing user, unless route-policy.ts says it is public. The token check itself is the
 * auth service's (src/services/auth.service.ts).
 */
const auth: FastifyPluginCallback = (app, _opts, done) => {
  const service = app.services.auth;
  app.decorateRequest('user', null);
  app.decorateRequest('caller', null);
  app.decorateRequest('tokenExpiresAt', null);
  app.decorate('authenticate', async function authenticate(request: FastifyRequest): Promise<void> {
    if (!needsToken(request)) return;
    const caller = await service.identify(bearerToken(request));
    assertRouteTakes(request, caller);
    request.caller = caller;
    const user = userOfCaller(caller);
    request.user = user;
    request.tokenExpiresAt = caller.expiresAt;
    const ctx = currentContext();
    const span = trace.getActiveSpan();
    if (user) {
      if (ctx) ctx.user_id = user.id;
      span?.setAttribute('user_id', user.id);
    }
    if (caller.kind !== 'user') span?.setAttribute('worker', caller.worker);
    // The audit actor of an operation token's writes (src/services/audit.service.ts actorOf).
    if (caller.kind === 'operation' && ctx) ctx.worker = caller.worker;
  });
  done();
};

export default fp(auth, { name: 'auth', fastify: '5.x', dependencies: ['services'] });

import { trace } from '@opentelemetry/api';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { User } from '../../db/types.js';
import { UnauthorizedError } from '../../lib/errors.js';
import { currentContext } from '../../lib/request-context.js';
import { needsToken } from './route-policy.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The authentication step of the request chain (installed in src/app.ts). */
    authenticate: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /** The authenticated caller; set by the authentication step on every non-public route. */
    user: User | null;
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
 * Authentication (REQ-003, REQ-007): every route requires a valid token whose `sub` is an
 * existing user, unless route-policy.ts says it is public. The token check itself is the
 * auth service's (src/services/auth.service.ts).
 */
const auth: FastifyPluginCallback = (app, _opts, done) => {
  const service = app.services.auth;
  app.decorateRequest('user', null);
  app.decorateRequest('tokenExpiresAt', null);
  app.decorate('authenticate', async function authenticate(request: FastifyRequest): Promise<void> {
    if (!needsToken(request)) return;
    const { user, expiresAt } = await service.identify(bearerToken(request));
    request.user = user;
    request.tokenExpiresAt = expiresAt;
    const ctx = currentContext();
    if (ctx) ctx.user_id = user.id;
    trace.getActiveSpan()?.setAttribute('user_id', user.id);
  });
  done();
};

export default fp(auth, { name: 'auth', fastify: '5.x', dependencies: ['services'] });

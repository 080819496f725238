import { trace } from '@opentelemetry/api';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { IdentityCache } from '../../auth/identity-cache.js';
import { loadSigningKeys, type SigningKeys } from '../../auth/keys.js';
import { TokenService } from '../../auth/tokens.js';
import type { Config } from '../../config.js';
import type { User } from '../../db/types.js';
import { UnauthorizedError } from '../../lib/errors.js';
import { currentContext } from '../../lib/request-context.js';
import { appendRouteHook } from '../../lib/route-hooks.js';
import { UsersRepository } from '../../repositories/users.repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService;
    signingKeys: SigningKeys;
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
 * Authentication step of the chain (REQ-003, REQ-007). Public routes say so in their
 * config (`public: true`); every other route, including routes added later, requires a
 * valid token whose `sub` is an existing user.
 */
const auth: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const keys = await loadSigningKeys(config);
  const tokens = new TokenService(keys, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    expiresInMinutes: config.accessTokenExpireMinutes,
  });
  const users = new UsersRepository(app.db);
  app.decorate('signingKeys', keys);
  app.decorate('tokens', tokens);
  app.decorateRequest('user', null);
  app.decorateRequest('tokenExpiresAt', null);

  const cache = new IdentityCache();
  const identify = async (token: string): Promise<{ readonly user: User; readonly expiresAt: number }> => {
    const cached = cache.lookup(token);
    if (cached) return cached;
    const { sub, expiresAt } = await tokens.verifyClaims(token);
    const user = await users.findById(sub);
    if (user === undefined) throw new UnauthorizedError('Unknown user');
    cache.set(token, user, expiresAt);
    return { user, expiresAt };
  };

  const authenticate = async (request: FastifyRequest): Promise<void> => {
    const { user, expiresAt } = await identify(bearerToken(request));
    request.user = user;
    request.tokenExpiresAt = expiresAt;
    const ctx = currentContext();
    if (ctx) ctx.user_id = user.id;
    trace.getActiveSpan()?.setAttribute('user_id', user.id);
  };

  // Every route added after this plugin requires a token unless it declares itself public;
  // routes added before it (CORS preflight, documentation) are public by construction.
  app.addHook('onRoute', (route) => {
    if (route.config?.public !== true) appendRouteHook(route, 'onRequest', authenticate);
  });
};

export default fp(auth, { name: 'auth', fastify: '5.x', dependencies: ['postgres', 'cors'] });

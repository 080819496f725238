import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { User } from '../../../../db/types.js';
import { isLoopback } from '../../../../plugins/http/client-address.js';
import { routeNotFound } from '../../../../plugins/http/error-handler.js';
import { userOf } from '../../../../plugins/http/request-identity.js';
import { errorResponses } from '../shared-schemas.js';
import { DevLoginRequest, Jwks, TokenResponse, UserPublic } from './schemas.js';

export function toUserPublic(user: User) {
  return { id: user.id, email: user.email, name: user.name, created_at: user.createdAt.toISOString() };
}

/** Who may call dev-login: nobody (production), loopback clients (default), or any host. */
export type DevLoginAccess = 'off' | 'loopback' | 'any-host';

/** REQ-007: the current user, and dev-login outside production. */
const authRoutes: FastifyPluginAsyncTypebox<{ devLogin: DevLoginAccess }> = async (app, opts) => {
  const auth = app.services.auth;

  app.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        operationId: 'getCurrentUser',
        summary: 'The authenticated user',
        response: { 200: UserPublic, ...errorResponses(401, 429, 503) },
      },
    },
    async (request) => toUserPublic(userOf(request)),
  );

  // In production the route is not registered (404). Elsewhere a remote client gets the very
  // same 404 unless DEV_LOGIN_ANY_HOST is set (docs/contract.md §13): HOST defaults to 0.0.0.0,
  // and the route mints a token for any email. The check runs first on the route (onRequest,
  // before the body is read), so nothing tells a remote caller that the route exists.
  // `request.ip` honours X-Forwarded-For only from TRUSTED_PROXIES.
  if (opts.devLogin !== 'off') {
    const loopbackOnly = opts.devLogin === 'loopback';
    app.post(
      '/auth/dev-login',
      {
        config: { public: true },
        onRequest: async function devLoginLoopbackOnly(request: FastifyRequest) {
          if (loopbackOnly && !isLoopback(request.ip)) throw routeNotFound(request);
        },
        schema: {
          tags: ['auth'],
          operationId: 'devLogin',
          summary: 'Development only: upsert a user by email and get an access token',
          description: 'Answers loopback clients only unless `DEV_LOGIN_ANY_HOST=true`; others get 404. Never in production.',
          security: [],
          body: DevLoginRequest,
          response: { 200: TokenResponse, ...errorResponses(400, 404, 413, 422, 429, 503) },
        },
      },
      async (request) => auth.devLogin(request.body.email, request.body.name),
    );
  }
};

export default authRoutes;

/** The public key(s) as a JWKS, at the root (no /api/v1 prefix), for other services to verify our tokens. */
export const jwksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const jwks = { keys: [app.services.tokens.keys.publicJwk as Record<string, unknown>] };
  app.get(
    '/.well-known/jwks.json',
    {
      config: { public: true },
      schema: { tags: ['auth'], operationId: 'getJwks', summary: 'Public signing keys (JWKS)', security: [], response: { 200: Jwks } },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return jwks;
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { User } from '../../../../db/types.js';
import { userOf } from '../../../../plugins/http/request-identity.js';
import { UsersRepository } from '../../../../repositories/users.repository.js';
import { errorResponses } from '../shared-schemas.js';
import { DevLoginRequest, Jwks, TokenResponse, UserPublic } from './schemas.js';

export function toUserPublic(user: User) {
  return { id: user.id, email: user.email, name: user.name, created_at: user.createdAt.toISOString() };
}

/** REQ-007: the current user, and dev-login outside production. */
const authRoutes: FastifyPluginAsyncTypebox<{ devLogin: boolean }> = async (app, opts) => {
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

  // Exists only in development and test: in production the route is not registered (404).
  if (opts.devLogin) {
    const users = new UsersRepository(app.db);
    app.post(
      '/auth/dev-login',
      {
        config: { public: true },
        schema: {
          tags: ['auth'],
          operationId: 'devLogin',
          summary: 'Development only: upsert a user by email and get an access token',
          security: [],
          body: DevLoginRequest,
          response: { 200: TokenResponse, ...errorResponses(400, 413, 422, 429, 503) },
        },
      },
      async (request) => {
        const email = request.body.email;
        const user = await users.upsertByEmail(email, request.body.name ?? email.split('@')[0] ?? email);
        return app.tokens.issue(user.id);
      },
    );
  }
};

export default authRoutes;

/** The public key(s) as a JWKS, at the root (no /api/v1 prefix), for other services to verify our tokens. */
export const jwksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/.well-known/jwks.json',
    {
      config: { public: true },
      schema: { tags: ['auth'], operationId: 'getJwks', summary: 'Public signing keys (JWKS)', security: [], response: { 200: Jwks } },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return { keys: [app.signingKeys.publicJwk as Record<string, unknown>] };
    },
  );
};

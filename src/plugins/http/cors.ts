import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ForbiddenError } from '../../lib/errors.js';

export interface CorsOptions {
  readonly origins: readonly string[];
  /** The chain step both hooks run in (chosen in src/app.ts). */
  readonly hook: 'onRequest';
}

export const CORS_EXPOSED_HEADERS = ['X-Correlation-ID', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'ETag', 'Idempotent-Replayed'];
/** docs/contract.md §3; the last three are the safe-write headers of §12. */
export const CORS_ALLOWED_HEADERS = [
  'Content-Type',
  'Authorization',
  'X-Correlation-ID',
  'Last-Event-ID',
  'If-Match',
  'If-None-Match',
  'Idempotency-Key',
];

/**
 * SEC-004. `@fastify/cors` answers allowed preflights and adds the response headers; it
 * answers a disallowed preflight with 204 and no Allow-Origin, which a browser treats as a
 * refusal but a reader of the contract would not. The hook below turns it into an explicit
 * 403. Simple (non-preflight) requests from other origins are served without
 * Access-Control-Allow-Origin: the browser then withholds the response, and same-origin
 * callers such as the /docs page keep working.
 */
const corsPlugin: FastifyPluginAsync<CorsOptions> = async (app, opts) => {
  const allowed = new Set(opts.origins);

  app.addHook(opts.hook, function refuseForeignPreflight(request, _reply, next) {
    const origin = request.headers.origin;
    if (
      request.method === 'OPTIONS' &&
      origin !== undefined &&
      request.headers['access-control-request-method'] !== undefined &&
      !allowed.has(origin)
    ) {
      next(new ForbiddenError(`Origin ${origin} is not allowed`));
      return;
    }
    next();
  });

  await app.register(cors, { ...corsOptions(allowed), hook: opts.hook });
};

/** docs/contract.md §3's CORS policy for a set of exact origins (also used by the bench's comparison server). */
export function corsOptions(allowed: ReadonlySet<string>): FastifyCorsOptions {
  return {
    origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
    strictPreflight: true,
  };
}

export default fp(corsPlugin, { name: 'cors', fastify: '5.x' });

import type { FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { ForbiddenError } from '../../lib/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the CORS step when it answered an allowed preflight. */
    corsPreflightEnabled: boolean;
  }
}

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
const CORS_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

// Every value is fixed but Allow-Origin (the caller's origin, echoed when allowed): joined once here.
const EXPOSE_HEADERS = CORS_EXPOSED_HEADERS.join(', ');
const ALLOW_METHODS = CORS_METHODS.join(', ');
const ALLOW_HEADERS = CORS_ALLOWED_HEADERS.join(', ');
/** Seconds a browser may reuse a preflight's answer. */
const MAX_AGE = '600';

/** Responses differ by Origin (Allow-Origin or not): caches must key on it, whatever else Vary names. */
function varyOnOrigin(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  if (vary === undefined || vary === '') reply.header('vary', 'Origin');
  else if (typeof vary === 'string' && vary !== '*' && !/(?:^|,)\s*origin\s*(?:,|$)/i.test(vary)) reply.header('vary', `${vary}, Origin`);
}

/**
 * SEC-004, docs/contract.md §3, as two steps of the chain. Only origins in CORS_ORIGINS get
 * Access-Control-Allow-Origin (with credentials and the exposed headers); an allowed preflight is
 * answered 204 with the allowed methods and request headers; a preflight from another origin is
 * an explicit 403 (a 204 without Allow-Origin is a refusal to a browser, not to a reader of the
 * contract). Simple requests from other origins are served without Access-Control-Allow-Origin:
 * the browser then withholds the response, and same-origin callers such as the /docs page keep
 * working. What `@fastify/cors` did with these options, without its per-request work (an options
 * object spread, closures, header lists joined, the Vary header parsed: docs/adr/0026).
 */
const corsPlugin: FastifyPluginCallback<CorsOptions> = (app, opts, done) => {
  const allowed = new Set(opts.origins);
  app.decorateRequest('corsPreflightEnabled', false);

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

  app.addHook(opts.hook, function handleCors(request: FastifyRequest, reply: FastifyReply, next: HookHandlerDoneFunction) {
    varyOnOrigin(reply);
    const origin = request.headers.origin;
    if (origin === undefined || !allowed.has(origin)) {
      next();
      return;
    }
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-allow-credentials', 'true');
    reply.header('access-control-expose-headers', EXPOSE_HEADERS);
    if (request.raw.method !== 'OPTIONS') {
      next();
      return;
    }
    // An OPTIONS request from an allowed origin must be a whole preflight.
    if (!request.headers['access-control-request-method']) {
      reply.code(400).type('text/plain').send('Invalid Preflight Request');
      return;
    }
    request.corsPreflightEnabled = true;
    reply.header('access-control-allow-methods', ALLOW_METHODS);
    reply.header('access-control-allow-headers', ALLOW_HEADERS);
    reply.header('access-control-max-age', MAX_AGE);
    reply.code(204).header('content-length', '0').send();
  });

  // Preflights to any path reach the chain as a route of their own (answered in the step above);
  // any other OPTIONS request is a 404, as for an unknown route.
  app.options('*', { schema: { hide: true } }, (request, reply) => {
    if (!request.corsPreflightEnabled) {
      reply.callNotFound();
      return;
    }
    reply.send();
  });
  done();
};

export default fp(corsPlugin, { name: 'cors', fastify: '5.x' });

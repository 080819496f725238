import type { FastifyPluginCallback, onRequestHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { appendRouteHook } from './route-hooks.js';

/** The route's path parameters declared as ids (`format: uuid`, the shared `Uuid` schema). */
function idParamNames(route: RouteOptions): string[] {
  const params = route.schema?.params as { properties?: Record<string, Record<string, unknown>> } | undefined;
  return Object.entries(params?.properties ?? {})
    .filter(([, schema]) => schema.format === 'uuid')
    .map(([name]) => name);
}

/**
 * docs/contract.md §13: ids in paths are matched case-insensitively and answered in lower case. Each
 * id is lowered once, here, before anything reads it: the access guard and the rate limit
 * (preValidation, before schema validation), the services, the event bus keys (an event
 * published to `/operations/{ID}` reaches the followers of `/operations/{id}`). Validation
 * then checks the form (a malformed or `urn:uuid:` id → 422). See docs/adr/0015.
 */
const idParams: FastifyPluginCallback = (app, _opts, done) => {
  app.addHook('onRoute', (route) => {
    const names = idParamNames(route);
    if (names.length === 0) return;
    const lower: onRequestHookHandler = function lowerIdParams(request, _reply, next) {
      const params = request.params as Record<string, unknown>;
      for (const name of names) {
        const value = params[name];
        if (typeof value === 'string') params[name] = value.toLowerCase();
      }
      next();
    };
    appendRouteHook(route, 'onRequest', lower);
  });
  done();
};

export default fp(idParams, { name: 'id-params', fastify: '5.x' });

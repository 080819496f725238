import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { safeUrl } from '../../lib/logger.js';
import { httpServerDuration } from '../../telemetry/metrics.js';

/** One request-completed line per request (OBS-002), instead of Fastify's two unredacted ones. */
const requestLog: FastifyPluginCallback = (app, _opts, done) => {
  app.addHook('onResponse', (request, reply, next) => {
    httpServerDuration.record(reply.elapsedTime / 1000, {
      'http.request.method': request.method,
      'http.route': request.routeOptions.url ?? 'unknown',
      'http.response.status_code': reply.statusCode,
    });
    request.log.info(
      {
        method: request.method,
        url: safeUrl(request.url),
        status_code: reply.statusCode,
        duration_ms: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request completed',
    );
    next();
  });
  done();
};

export default fp(requestLog, { name: 'request-log', fastify: '5.x', dependencies: ['correlation-id'] });

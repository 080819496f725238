import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { safeUrl } from '../../lib/logger.js';
import { httpServerDuration } from '../../telemetry/metrics.js';
import { telemetryState } from '../../telemetry/state.js';

/** One request-completed line per request (OBS-002), instead of Fastify's two unredacted ones. */
const requestLog: FastifyPluginCallback = (app, _opts, done) => {
  // Decided once: on every response, build neither a log object nobody writes (LOG_LEVEL
  // above info) nor metric attributes nobody exports (no telemetry preload).
  const logging = !['fatal', 'error', 'warn', 'silent'].includes(app.log.level);
  const metering = telemetryState().enabled;
  if (!logging && !metering) {
    done();
    return;
  }
  app.addHook('onResponse', (request, reply, next) => {
    if (metering) {
      httpServerDuration.record(reply.elapsedTime / 1000, {
        'http.request.method': request.method,
        'http.route': request.routeOptions.url ?? 'unknown',
        'http.response.status_code': reply.statusCode,
      });
    }
    if (logging)
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

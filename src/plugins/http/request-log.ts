import type { FastifyBaseLogger, onResponseHookHandler } from 'fastify';
import { safeUrl } from '../../lib/logger.js';
import { httpServerDuration } from '../../telemetry/metrics.js';
import { telemetryState } from '../../telemetry/state.js';

/**
 * One request-completed line per request (OBS-002), instead of Fastify's two unredacted ones,
 * and the request-duration metric (an onResponse step). Null when nobody would consume either:
 * decided once, so no response builds a log object nobody writes (LOG_LEVEL above info) or
 * metric attributes nobody exports (no telemetry preload).
 */
export function requestLogger(log: FastifyBaseLogger): onResponseHookHandler | null {
  const logging = !['fatal', 'error', 'warn', 'silent'].includes(log.level);
  const metering = telemetryState().enabled;
  if (!logging && !metering) return null;
  return function logRequest(request, reply, next) {
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
  };
}

import type { FastifyBaseLogger, onResponseHookHandler } from 'fastify';
import { safeUrl } from '../../lib/logger.js';
import { httpServerDuration } from '../../telemetry/metrics.js';
import { telemetryState } from '../../telemetry/state.js';

/**
 * The probe routes (src/routes/api/v1/health/index.ts): an orchestrator calls them every few
 * seconds on every instance, so in a deployment they write most of the request lines.
 */
const PROBE_PATHS: ReadonlySet<string> = new Set(['/api/v1/health/live', '/api/v1/health/ready']);

export interface RequestLogOptions {
  /** LOG_HEALTH_PROBES: also log a probe that answered 200 (docs/adr/0026). */
  readonly logHealthProbes: boolean;
}

/**
 * One request-completed line per request (OBS-002), instead of Fastify's two unredacted ones,
 * and the request-duration metric (an onResponse step). Null when nobody would consume either:
 * decided once, so no response builds a log object nobody writes (LOG_LEVEL above info) or
 * metric attributes nobody exports (no telemetry preload).
 */
export function requestLogger(log: FastifyBaseLogger, options: RequestLogOptions): onResponseHookHandler | null {
  const logging = !['fatal', 'error', 'warn', 'silent'].includes(log.level);
  const metering = telemetryState().enabled;
  const skipHealthyProbes = !options.logHealthProbes;
  if (!logging && !metering) return null;
  // The line's fields are fixed (method, path without query, status, duration, and the context's
  // ids): none is a redacted path, so the redactor — which pino runs on every field of a line
  // because of the wildcard paths, ~1.5 µs a line here — has nothing to do on it (docs/adr/0026).
  const lines = log.child({}, { redact: [] });
  return function logRequest(request, reply, next) {
    if (metering) {
      httpServerDuration.record(reply.elapsedTime / 1000, {
        'http.request.method': request.method,
        'http.route': request.routeOptions.url ?? 'unknown',
        'http.response.status_code': reply.statusCode,
      });
    }
    if (logging) {
      const path = safeUrl(request.url);
      const statusCode = reply.statusCode;
      // A probe that answered 200 is not worth a line; any other answer of a probe is logged.
      if (!(skipHealthyProbes && statusCode === 200 && PROBE_PATHS.has(path))) {
        lines.info(
          { method: request.method, url: path, status_code: statusCode, duration_ms: Math.round(reply.elapsedTime * 100) / 100 },
          'request completed',
        );
      }
    }
    next();
  };
}

import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { observeGauges } from '../../telemetry/metrics.js';
import { telemetryState } from '../../telemetry/state.js';

/** While exports have failed within this window, telemetry is `degraded` (never `unhealthy`). */
const FAILURE_WINDOW_MS = 60_000;

/**
 * The app's side of telemetry: the `telemetry` health component and the gauges. The SDK
 * itself lives in the preload (src/telemetry/preload.ts), apart from request handling.
 */
const telemetry: FastifyPluginCallback = (app, _opts, done) => {
  app.health.register({
    name: 'telemetry',
    required: false,
    run: async () => {
      const s = telemetryState();
      if (!s.enabled) return { status: 'disabled', details: { reason: 'no OTLP endpoint (or OTEL_SDK_DISABLED)' } };
      const failing =
        s.lastFailureAt !== null && Date.now() - s.lastFailureAt < FAILURE_WINDOW_MS && (s.lastSuccessAt ?? 0) < s.lastFailureAt;
      return {
        status: failing ? 'degraded' : 'healthy',
        error: failing ? s.lastError : null,
        // No endpoint: a public page must not show where (or with which credentials) spans go.
        details: { exports_ok: s.exportsOk, exports_failed: s.exportsFailed },
      };
    },
  });
  const stopObserving = observeGauges(() => ({
    poolTotal: app.database.pool.totalCount,
    poolIdle: app.database.pool.idleCount,
    poolWaiting: app.database.pool.waitingCount,
    sseConnections: app.streams.size,
  }));
  app.addHook('onClose', (_instance, next) => {
    stopObserving();
    next();
  });
  done();
};

export default fp(telemetry, { name: 'telemetry', fastify: '5.x', dependencies: ['health', 'postgres', 'sse-hub'] });

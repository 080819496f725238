import { metrics } from '@opentelemetry/api';

/*
 * The app's own instruments (docs/contract.md §6). Through the global API they cost next to nothing
 * until the telemetry preload installs a MeterProvider; then they export over OTLP.
 */
const meter = metrics.getMeter('jeex-api');

export const httpServerDuration = meter.createHistogram('http.server.request.duration', {
  description: 'Duration of HTTP server requests',
  unit: 's',
  advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
});

export const eventsPublished = meter.createCounter('jeex.events.published', { description: 'Operation events published' });
export const eventsDelivered = meter.createCounter('jeex.events.delivered', { description: 'Operation events written to SSE clients' });
export const rateLimitRejected = meter.createCounter('rate_limit.rejected', { description: 'Requests rejected by a rate limit' });
export const rateLimitBypassed = meter.createCounter('rate_limit.bypassed', {
  description: 'Requests admitted because the limiter store was unavailable',
});

/** Gauges read on each collection: pool usage (PERF-001) and open streams. */
export function observeGauges(
  read: () => { poolTotal: number; poolIdle: number; poolWaiting: number; sseConnections: number },
): () => void {
  const pool = meter.createObservableGauge('db.client.connection.count', { description: 'Database pool connections by state' });
  const waiting = meter.createObservableGauge('db.client.connection.pending_requests', {
    description: 'Requests waiting for a connection',
  });
  const sse = meter.createObservableGauge('jeex.sse.connections', { description: 'Open event streams' });
  const observables = [pool, waiting, sse];
  const callback = (result: Parameters<Parameters<typeof meter.addBatchObservableCallback>[0]>[0]) => {
    const v = read();
    result.observe(pool, v.poolTotal - v.poolIdle, { 'db.client.connection.state': 'used' });
    result.observe(pool, v.poolIdle, { 'db.client.connection.state': 'idle' });
    result.observe(waiting, v.poolWaiting);
    result.observe(sse, v.sseConnections);
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}

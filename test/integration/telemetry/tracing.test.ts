import { describe, expect, inject, it } from 'vitest';
import type { ReceivedSpan } from '../../helpers/otlp-receiver.js';
import { useTracedServer } from '../../helpers/traced-server.js';
import { until } from '../../helpers/wait.js';

/*
 * The real entry point with the telemetry preload, exporting OTLP/HTTP JSON to a test
 * receiver that stands in for the collector.
 */
const traced = useTracedServer(() => ({ REDIS_URL: inject('redisUrl'), OTEL_METRIC_EXPORT_INTERVAL: '500' }), {
  email: 'otel@example.com',
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${traced.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${traced.token}`, ...headers },
    body: JSON.stringify(body),
  });

function trace(correlationId: string): { root: ReceivedSpan | undefined; all: ReceivedSpan[] } {
  const root = traced.receiver.spans.find((s) => s.attributes.correlation_id === correlationId);
  return { root, all: root ? traced.receiver.spans.filter((s) => s.traceId === root.traceId) : [] };
}

describe('traces (REQ-010)', () => {
  it('a project read is one trace: a server span with the correlation id, project and user, and a span per query', async () => {
    const created = await post('/api/v1/projects', { name: 'Traced' });
    const project = (await created.json()) as { id: string; created_by: string };
    const res = await fetch(`${traced.base}/api/v1/projects/${project.id}`, {
      headers: { authorization: `Bearer ${traced.token}`, 'x-correlation-id': 'trace-read-1' },
    });
    expect(res.status).toBe(200);
    // One query: the token and user are cached from the calls before, the guard reads membership and row at once.
    await until(() => trace('trace-read-1').all.filter((s) => s.scope.includes('pg')).length >= 1, 10_000);
    const { root, all } = trace('trace-read-1');
    expect(root?.kind).toBe(2); // SERVER
    expect(root?.attributes).toMatchObject({
      project_id: project.id,
      user_id: project.created_by,
      'http.route': '/api/v1/projects/:project_id',
    });
    expect(all.filter((s) => s.kind === 2)).toHaveLength(1); // one server span per request
    const queries = all.filter((s) => s.scope.includes('pg'));
    expect(queries).toHaveLength(1);
    expect(String(queries[0]?.attributes['db.query.text'] ?? queries[0]?.attributes['db.statement'])).toContain('project_members');
    expect(queries.every((q) => q.parentSpanId === root?.spanId)).toBe(true);
    expect(queries.map((q) => q.name).join(' ')).not.toMatch(/connect/i); // no pool-connect spans
  });

  it('a request that touches Redis has a Redis span in the same trace', async () => {
    const created = await post('/api/v1/projects', { name: 'Redis traced' });
    const project = (await created.json()) as { id: string };
    const op = (await (await post(`/api/v1/projects/${project.id}/operations`, { kind: 'agent_run' })).json()) as { id: string };
    const res = await post(
      `/api/v1/projects/${project.id}/operations/${op.id}/events`,
      { type: 'progress' },
      { 'x-correlation-id': 'trace-redis-1' },
    );
    expect(res.status).toBe(202);
    await until(() => trace('trace-redis-1').all.some((s) => s.scope.includes('ioredis')), 10_000);
    const { root, all } = trace('trace-redis-1');
    const redisSpan = all.find((s) => s.scope.includes('ioredis'));
    expect(redisSpan?.traceId).toBe(root?.traceId);
  });

  it('accepts a W3C traceparent: the server span joins the caller’s trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await fetch(`${traced.base}/api/v1/auth/me`, {
      headers: {
        authorization: `Bearer ${traced.token}`,
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        'x-correlation-id': 'trace-parent-1',
      },
    });
    await until(() => trace('trace-parent-1').root !== undefined, 10_000);
    expect(trace('trace-parent-1').root?.traceId).toBe(traceId);
    expect(trace('trace-parent-1').root?.parentSpanId).toBe('00f067aa0ba902b7');
  });

  it('log lines of a traced request carry the trace_id and span_id of its server span', async () => {
    await fetch(`${traced.base}/api/v1/auth/me`, {
      headers: { authorization: `Bearer ${traced.token}`, 'x-correlation-id': 'trace-log-1' },
    });
    await until(() => trace('trace-log-1').root !== undefined, 10_000);
    const root = trace('trace-log-1').root;
    const line = traced.server
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"trace-log-1"') && l.includes('request completed'))
      .map((l) => JSON.parse(l) as Record<string, string>)[0];
    expect(line?.trace_id).toBe(root?.traceId);
    expect(line?.span_id).toBe(root?.spanId);
  });

  it('a client error (4xx) is not marked as a server error', async () => {
    const res = await fetch(`${traced.base}/api/v1/projects`, {
      headers: { authorization: 'Bearer x', 'x-correlation-id': 'trace-401-1' },
    });
    expect(res.status).toBe(401);
    await until(() => trace('trace-401-1').root !== undefined, 10_000);
    expect(trace('trace-401-1').root?.status.code ?? 0).not.toBe(2);
    expect(trace('trace-401-1').root?.events.filter((e) => e.name === 'exception')).toEqual([]);
  });

  it('exports HTTP and pool metrics', async () => {
    await until(
      () =>
        traced.receiver.metricNames.has('http.server.request.duration') && traced.receiver.metricNames.has('db.client.connection.count'),
      10_000,
    );
    expect(traced.receiver.metricNames.has('jeex.sse.connections')).toBe(true);
  });

  it('health reports telemetry healthy while exports succeed, counting exports the collector actually received', async () => {
    // "Healthy" alone cannot tell exports that succeed from no exports at all (issue 14 item 10):
    // a request made now must reach the receiver, and health must count it as a successful export.
    await fetch(`${traced.base}/api/v1/auth/me`, {
      headers: { authorization: `Bearer ${traced.token}`, 'x-correlation-id': 'trace-healthy-1' },
    });
    await until(() => trace('trace-healthy-1').root !== undefined, 10_000);
    type Health = { components: Array<{ name: string; status: string; details: { exports_ok?: number; exports_failed?: number } | null }> };
    const telemetry = async () =>
      ((await (await fetch(`${traced.base}/api/v1/health`)).json()) as Health).components.find((c) => c.name === 'telemetry');
    const received = traced.receiver.requests;
    const component = await telemetry();
    expect(component?.status).toBe('healthy');
    expect(component?.details?.exports_ok).toBeGreaterThan(0);
    expect(component?.details?.exports_failed).toBe(0);
    // Every successful export the service counts is one the receiver answered (metrics exports too).
    expect(component?.details?.exports_ok).toBeLessThanOrEqual(received);
  });
});

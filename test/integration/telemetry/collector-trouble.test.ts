import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ReceiverMode } from '../../helpers/otlp-receiver.js';
import { freePort } from '../../helpers/server-process.js';
import { createProjectOperation, useTracedServer } from '../../helpers/traced-server.js';
import { until } from '../../helpers/wait.js';

/*
 * The lesson of the original service: its exporter crashed the server. Here the collector
 * refuses, hangs and fails while requests keep coming: every request must succeed, memory
 * must stay bounded, health must say `degraded`, and shutdown must stay within 5 s.
 */
const traced = useTracedServer(
  // A Redis that is not there: publishing answers 503, a server-side error to trace.
  async () => ({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, LOG_LEVEL: 'warn' }),
  { email: 'collector@example.com', listening: /Server listening|"level":"warn"/, untilLive: true, stopSignal: 'SIGKILL' },
);

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) / 1024;
}

async function burst(count: number, concurrency = 16): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const res = await fetch(`${traced.base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${traced.token}` } });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    }),
  );
  return statuses;
}

async function telemetry(): Promise<{ status: string | undefined; failed: number }> {
  const health = (await (await fetch(`${traced.base}/api/v1/health`)).json()) as {
    components: Array<{ name: string; status: string; details: { exports_failed?: number } | null }>;
  };
  const component = health.components.find((c) => c.name === 'telemetry');
  return { status: component?.status, failed: component?.details?.exports_failed ?? 0 };
}

describe('telemetry isolated from serving', () => {
  it('a server error (5xx) is an ERROR span with the exception recorded', async () => {
    const auth = { authorization: `Bearer ${traced.token}`, 'content-type': 'application/json' };
    const { project, op } = await createProjectOperation(traced, 'E');
    // Opening a stream needs the bus (Redis is unreachable here); publishing no longer does:
    // events are kept in PostgreSQL (docs/adr/0016).
    const res = await fetch(`${traced.base}/api/v1/projects/${project.id}/operations/${op.id}/events`, {
      headers: { authorization: auth.authorization, 'x-correlation-id': 'trace-503-1' },
    });
    expect(res.status).toBe(503);
    await until(() => traced.receiver.spans.some((s) => s.attributes.correlation_id === 'trace-503-1'), 30_000);
    const span = traced.receiver.spans.find((s) => s.attributes.correlation_id === 'trace-503-1');
    expect(span?.status.code).toBe(2);
    const exception = span?.events.find((e) => e.name === 'exception');
    expect(exception?.attributes['exception.type']).toBe('service_unavailable');
    expect(exception?.attributes['exception.message']).toBe('The event bus is unavailable');
  });

  it('with the collector refusing, hanging or failing, every request succeeds, memory stays bounded, health says degraded, and spans flow again after', async () => {
    const pid = traced.server.child.pid ?? 0;
    await burst(300); // warm up before measuring memory
    const rssBefore = rssMiB(pid);
    for (const mode of ['closed', 'hang', 'error500'] as ReceiverMode[]) {
      const failedBefore = (await telemetry()).failed;
      await traced.receiver.setMode(mode);
      const statuses = await burst(800);
      expect(
        statuses.filter((s) => s !== 200),
        `mode ${mode}`,
      ).toEqual([]);
      // This mode made exports fail (counted), and health says degraded, not unhealthy.
      await until(async () => {
        const t = await telemetry();
        return t.status === 'degraded' && t.failed > failedBefore;
      }, 30_000).catch((e: Error) => {
        throw new Error(`mode ${mode}: ${e.message}; receiver saw ${traced.receiver.requests} requests`);
      });
      expect(traced.server.child.exitCode).toBeNull();
    }
    const growth = rssMiB(pid) - rssBefore;
    // The span queue is bounded (2048 spans, ~0.6 KB each): what grows is at most that, plus heap noise.
    expect(growth).toBeLessThan(120);

    await traced.receiver.setMode('ok');
    // Exports still retrying from the outage hold the exporter's slots for a moment, and spans
    // ended meanwhile are dropped (bounded, by design): keep making requests until one arrives.
    let n = 0;
    await until(async () => {
      n++;
      await fetch(`${traced.base}/api/v1/auth/me`, {
        headers: { authorization: `Bearer ${traced.token}`, 'x-correlation-id': `after-outage-${n}` },
      });
      await new Promise((r) => setTimeout(r, 300));
      return traced.receiver.spans.some((s) => String(s.attributes.correlation_id).startsWith('after-outage-'));
    }, 30_000);
    await until(async () => (await telemetry()).status === 'healthy', 30_000).catch((e: Error) => {
      throw new Error(`healthy after outage: ${e.message}`);
    });
    const warnings = traced.server
      .stdout()
      .split('\n')
      .filter((l) => l.includes('telemetry:'));
    // One line per distinct problem per minute, not one per failed export.
    expect(warnings.length).toBeLessThan(20);
  }, 180_000);

  it('shuts down within 5 s even with a collector that never answers', async () => {
    await traced.receiver.setMode('hang');
    await burst(200);
    const sent = performance.now();
    traced.server.child.kill('SIGTERM');
    const { code, atMs } = await traced.server.exited;
    expect(code).toBe(0);
    expect(atMs - sent).toBeLessThan(5_000);
  });
});

import { describe, expect, inject, it } from 'vitest';
import { useProjectApp } from '../../helpers/app-fixture.js';
import { json } from '../../helpers/factories.js';
import { openStream, type StreamClient } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';

/*
 * Issue 20 item 4 (docs/contract.md §9, docs/adr/0028): at SSE_MAX_STREAMS a new stream of either
 * kind gets the contract's 503 with a jittered Retry-After; the open ones are never evicted.
 */

const CAP = 3;
const RETRY_AFTER = 4;
const ctx = useProjectApp(
  { REDIS_URL: inject('redisUrl'), SSE_MAX_STREAMS: String(CAP), SSE_CAP_RETRY_AFTER_SECONDS: String(RETRY_AFTER), SSE_RETRY_MS: '2000' },
  { owner: 'Capped', project: 'Cap' },
);

const projectEvents = () => `${ctx.server.baseUrl}/api/v1/projects/${ctx.project.id}/events`;

async function createOperation(): Promise<string> {
  const res = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations`, json(ctx.owner, { kind: 'cap_probe' }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function refused(url: string): Promise<{ status: number; retryAfter: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', 'x-correlation-id': 'cap-probe', ...ctx.owner.auth } });
  return { status: res.status, retryAfter: Number(res.headers.get('retry-after')), body: (await res.json()) as Record<string, unknown> };
}

describe('GET …/events at the per-instance stream cap', () => {
  it('when the instance holds SSE_MAX_STREAMS streams, a new one (either kind) gets 503 event_streams with Retry-After in [base, 2 × base], and the open ones keep streaming', async () => {
    const open: StreamClient[] = [];
    for (let i = 0; i < CAP; i++) open.push(await openStream(projectEvents(), ctx.owner.auth));
    expect(open.map((s) => s.status)).toEqual(Array(CAP).fill(200));

    const op = await createOperation();
    const answers = [await refused(projectEvents()), await refused(`${projectEvents().replace(/events$/, '')}operations/${op}/events`)];
    for (let i = 0; i < 6; i++) answers.push(await refused(projectEvents()));
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.body).toMatchObject({
        error: 'service_unavailable',
        status_code: 503,
        correlation_id: 'cap-probe',
        details: { service: 'event_streams', max_streams: CAP },
      });
      expect(Object.keys(a.body).sort()).toEqual(['correlation_id', 'details', 'error', 'message', 'status_code', 'timestamp']);
      expect(a.retryAfter).toBeGreaterThanOrEqual(RETRY_AFTER);
      expect(a.retryAfter).toBeLessThanOrEqual(2 * RETRY_AFTER);
    }

    // Never evicted: every open stream still gets the next event (the operation created above).
    for (const s of open) await s.waitFor((events) => events.some((e) => e.event === 'operation.created'));

    // A slot freed by a client that leaves is taken by the next stream.
    open.pop()?.close();
    let again: StreamClient | undefined;
    await until(
      async () => {
        again?.close();
        again = await openStream(projectEvents(), ctx.owner.auth);
        return again.status === 200;
      },
      5_000,
      50,
    );
    open.push(again as StreamClient);
    for (const s of open) s.close();
  });

  it('each stream starts with a retry: hint drawn over [½, 1½] × SSE_RETRY_MS, not one constant', async () => {
    const hints: number[] = [];
    for (let i = 0; i < 12; i++) {
      const stream = await openStream(projectEvents(), ctx.owner.auth);
      expect(stream.status).toBe(200);
      await until(() => stream.retries.length > 0, 5_000);
      hints.push(stream.retries[0] as number);
      stream.close();
      // The slot is given back when the server sees the socket go.
      await until(() => ctx.server.app.streamAdmission.size === 0, 5_000);
    }
    for (const h of hints) {
      expect(h).toBeGreaterThanOrEqual(1000);
      expect(h).toBeLessThanOrEqual(3000);
    }
    expect(new Set(hints).size).toBeGreaterThan(6);
  });
});

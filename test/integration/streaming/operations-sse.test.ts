import { describe, expect, inject, it } from 'vitest';
import { operationChannel } from '../../../src/streaming/events.js';
import { useProjectApp } from '../../helpers/app-fixture.js';
import { addMember, createUser, json, type TestUser } from '../../helpers/factories.js';
import { openStream } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';

const ctx = useProjectApp({ REDIS_URL: inject('redisUrl'), SSE_KEEPALIVE_SECONDS: '1' }, { owner: 'Owner', project: 'Streams' });

async function createOperation(): Promise<string> {
  const res = await ctx.server.request(
    `/api/v1/projects/${ctx.project.id}/operations`,
    json(ctx.owner, { kind: 'agent_run', input: { step: 1 } }),
  );
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const eventsPath = (op: string) => `/api/v1/projects/${ctx.project.id}/operations/${op}/events`;

async function publish(op: string, body: Record<string, unknown>, user: TestUser = ctx.owner): Promise<Response> {
  return ctx.server.request(eventsPath(op), json(user, body));
}

const channel = (op: string) => operationChannel({ projectId: ctx.project.id, operationId: op });

describe('operations', () => {
  it('POST creates a pending operation; GET returns it; a terminal status ends it', async () => {
    const op = await createOperation();
    const get = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations/${op}`, { headers: ctx.owner.auth });
    expect(await get.json()).toMatchObject({ id: op, kind: 'agent_run', status: 'pending', input: { step: 1 }, started_at: null });
    expect((await publish(op, { type: 'progress', status: 'running' })).status).toBe(202);
    const done = await publish(op, { type: 'done', status: 'completed', data: { ok: true } });
    expect(done.status).toBe(202);
    expect(await done.json()).toMatchObject({ id: 2, type: 'done', status: 'completed', data: { ok: true } });
    const after = (await (
      await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations/${op}`, { headers: ctx.owner.auth })
    ).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ status: 'completed' });
    expect(after.started_at).not.toBeNull();
    expect(after.completed_at).not.toBeNull();
    expect((await publish(op, { type: 'late' })).status).toBe(409);
  });

  it('a viewer can follow but not publish', async () => {
    const viewer = await createUser(ctx.server, 'Viewer');
    await addMember(ctx.server, ctx.owner, ctx.project.id, viewer, 'viewer');
    const op = await createOperation();
    expect((await publish(op, { type: 'x' }, viewer)).status).toBe(403);
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, viewer.auth);
    expect(stream.status).toBe(200);
    stream.close();
  });

  it.each([
    ['a type with a space', { type: 'two words' }],
    ['a type with a newline', { type: 'a\nb' }],
    ['an unknown status', { type: 'x', status: 'paused' }],
    ['status pending', { type: 'x', status: 'pending' }],
    ['an unknown field', { type: 'x', extra: 1 }],
  ])('publishing %s is 422', async (_what, body) => {
    const op = await createOperation();
    expect((await publish(op, body)).status).toBe(422);
  });

  it('an unknown operation is 404 for status, publish and stream', async () => {
    const missing = '01a21596-0000-7000-8000-000000000000';
    expect((await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations/${missing}`, { headers: ctx.owner.auth })).status).toBe(
      404,
    );
    expect((await publish(missing, { type: 'x' })).status).toBe(404);
    expect((await ctx.server.request(eventsPath(missing), { headers: ctx.owner.auth })).status).toBe(404);
  });
});

describe('the event stream (REQ-006)', () => {
  it('is text/event-stream with no caching and no proxy buffering, the chain headers, and a retry hint', async () => {
    const op = await createOperation();
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, { ...ctx.owner.auth, 'x-correlation-id': 'sse-1' });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(stream.headers.get('x-accel-buffering')).toBe('no');
    expect(stream.headers.get('x-correlation-id')).toBe('sse-1');
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
    await new Promise((r) => setTimeout(r, 50));
    // Jittered over [½, 1½] × SSE_RETRY_MS (docs/contract.md §9, test/integration/scale/stream-cap.test.ts).
    expect(stream.retries).toEqual([expect.toSatisfy((ms: number) => ms >= 1000 && ms <= 3000)]);
    stream.close();
  });

  it('delivers published events within 100 ms (median of 20), stays open, and sends keepalives (scenario 5)', async () => {
    const op = await createOperation();
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, ctx.owner.auth);
    const latencies: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const sent = performance.now();
      await publish(op, { type: 'progress', data: { i } });
      await stream.waitFor((events) => events.length >= i);
      latencies.push((stream.events[i - 1]?.at ?? Number.POSITIVE_INFINITY) - sent);
    }
    latencies.sort((a, b) => a - b);
    expect(latencies[10]).toBeLessThan(100);
    expect(stream.events.map((e) => e.id)).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(stream.events[0]?.event).toBe('progress');
    expect(JSON.parse(stream.events[0]?.data ?? '{}')).toMatchObject({ id: 1, type: 'progress', data: { i: 1 }, operation_id: op });
    // Silence: keepalive comments arrive (SSE_KEEPALIVE_SECONDS=1) and the stream stays open.
    const before = stream.comments.length;
    await new Promise((r) => setTimeout(r, 2_300));
    expect(stream.comments.length - before).toBeGreaterThanOrEqual(2);
    expect(stream.comments.every((c) => c.trim() === 'keepalive')).toBe(true);
    await publish(op, { type: 'progress', data: { i: 21 } });
    await stream.waitFor((events) => events.length === 21);
    stream.close();
  });

  it('ends after the event with a terminal status', async () => {
    const op = await createOperation();
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, ctx.owner.auth);
    await publish(op, { type: 'progress' });
    await publish(op, { type: 'failed', status: 'failed', data: { error: 'model timeout' } });
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual(['progress', 'failed']);
    const row = (await (
      await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations/${op}`, { headers: ctx.owner.auth })
    ).json()) as {
      error: string;
    };
    expect(row.error).toBe('model timeout');
  });

  it('for an operation that already ended, replays its history and closes', async () => {
    const op = await createOperation();
    await publish(op, { type: 'a' });
    await publish(op, { type: 'b', status: 'completed' });
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, ctx.owner.auth);
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual(['a', 'b']);
  });

  it('resumes after Last-Event-ID: events 6..20 exactly once, in order, including those published while away', async () => {
    const op = await createOperation();
    const first = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, ctx.owner.auth);
    for (let i = 1; i <= 5; i++) await publish(op, { type: 'progress', data: { i } });
    await first.waitFor((events) => events.length === 5);
    first.close();
    await first.ended;
    for (let i = 6; i <= 12; i++) await publish(op, { type: 'progress', data: { i } });
    const second = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, {
      ...ctx.owner.auth,
      'last-event-id': first.events[4]?.id ?? '',
    });
    // Published while the replay is being read: must come exactly once, after the replay.
    const during = (async () => {
      for (let i = 13; i <= 20; i++) await publish(op, { type: 'progress', data: { i } });
    })();
    await during;
    await second.waitFor((events) => events.length >= 15);
    await new Promise((r) => setTimeout(r, 50));
    expect(second.events.map((e) => Number(e.id))).toEqual(Array.from({ length: 15 }, (_, i) => i + 6));
    expect(second.events.map((e) => (JSON.parse(e.data) as { data: { i: number } }).data.i)).toEqual(
      Array.from({ length: 15 }, (_, i) => i + 6),
    );
    second.close();
  });

  it('resumes with the last_event_id query too', async () => {
    const op = await createOperation();
    for (let i = 1; i <= 3; i++) await publish(op, { type: 'progress', data: { i } });
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}?last_event_id=2`, ctx.owner.auth);
    await stream.waitFor((events) => events.length === 1);
    expect(stream.events[0]?.id).toBe('3');
    stream.close();
  });

  it('when a malformed Last-Event-ID is sent, answers 422', async () => {
    const op = await createOperation();
    const res = await ctx.server.request(eventsPath(op), { headers: { ...ctx.owner.auth, 'last-event-id': 'abc' } });
    expect(res.status).toBe(422);
  });

  it('when the client goes away, its subscription is released within 1 s', async () => {
    const op = await createOperation();
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, ctx.owner.auth);
    await until(() => ctx.server.app.eventBus.subscriberCount(channel(op)) === 1);
    expect(ctx.server.app.streams.size).toBeGreaterThanOrEqual(1);
    stream.close();
    const took = await until(() => ctx.server.app.eventBus.subscriberCount(channel(op)) === 0);
    expect(took).toBeLessThan(1000);
  });

  it('accepts the token as an access_token query on this route only, and never logs it', async () => {
    const op = await createOperation();
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}?access_token=${ctx.owner.token}`, {
      'x-correlation-id': 'qtoken-1',
    });
    expect(stream.status).toBe(200);
    stream.close();
    await stream.ended;
    await new Promise((r) => setTimeout(r, 50));
    expect(ctx.server.rawLogs.join('\n')).not.toContain(ctx.owner.token);
    const forged = await ctx.server.request(`${eventsPath(op)}?access_token=not-a-token`);
    expect(forged.status).toBe(401);
  });
});

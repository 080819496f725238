import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { operationChannel } from '../../../src/streaming/events.js';
import { useProjectApp, useRedisServer } from '../../helpers/app-fixture.js';
import { json } from '../../helpers/factories.js';
import { openStream, type StreamClient } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';

/*
 * The durable event log (docs/adr/0016): PostgreSQL numbers and keeps every event, Redis
 * only fans them out. Over real HTTP, real PostgreSQL and a Redis of this file's own that it
 * restarts.
 */

const redis = useRedisServer();
const ctx = useProjectApp(() => ({ REDIS_URL: redis.url, SSE_REPLAY_EVENTS: '10' }), { owner: 'Owner', project: 'Durable' });

const eventsPath = (op: string) => `/api/v1/projects/${ctx.project.id}/operations/${op}/events`;
const operationPath = (op: string) => `/api/v1/projects/${ctx.project.id}/operations/${op}`;

async function createOperation(): Promise<string> {
  const res = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations`, json(ctx.owner, { kind: 'agent_run' }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function publish(op: string, body: Record<string, unknown>): Promise<Response> {
  return ctx.server.request(eventsPath(op), json(ctx.owner, body));
}

/**
 * Opens a stream once the bus takes subscriptions again (503 until its subscriber connection
 * is back after a Redis restart): polls the condition the test needs, not the health cache.
 */
async function openWhenSubscribable(url: string, headers: Record<string, string>): Promise<StreamClient> {
  let stream: StreamClient | undefined;
  await until(
    async () => {
      const attempt = await openStream(url, headers);
      if (attempt.status === 200) stream = attempt;
      else attempt.close();
      return stream !== undefined;
    },
    10_000,
    50,
  );
  if (!stream) throw new Error('no stream');
  return stream;
}

async function sqlAsAdmin(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ctx.db.url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe('events survive Redis', () => {
  it('when Redis restarts (empty) between two events, a resume loses nothing and ids continue', async () => {
    const op = await createOperation();
    expect(await (await publish(op, { type: 'progress', data: { n: 1 } })).json()).toMatchObject({ id: 1 });
    expect(await (await publish(op, { type: 'progress', data: { n: 2 } })).json()).toMatchObject({ id: 2 });
    await redis.stop();
    await redis.start();
    expect(await (await publish(op, { type: 'progress', data: { n: 3 } })).json()).toMatchObject({ id: 3 });

    const resumed = await openWhenSubscribable(`${ctx.server.baseUrl}${eventsPath(op)}`, { ...ctx.owner.auth, 'last-event-id': '1' });
    await resumed.waitFor((events) => events.length === 2);
    expect((await publish(op, { type: 'progress', data: { n: 4 } })).status).toBe(202);
    await resumed.waitFor((events) => events.length === 3);
    expect(resumed.events.map((e) => Number(e.id))).toEqual([2, 3, 4]);
    expect(resumed.events.map((e) => (JSON.parse(e.data) as { data: { n: number } }).data.n)).toEqual([2, 3, 4]);
    expect(resumed.events.map((e) => e.event)).not.toContain('reset');
    resumed.close();
  }, 30_000);

  it('when Redis is down at publish time, the acknowledged event reaches a client that resumes later', async () => {
    const op = await createOperation();
    await redis.stop();
    let acknowledged: number;
    try {
      const res = await publish(op, { type: 'done', status: 'completed', data: { ok: true } });
      expect(res.status).toBe(202);
      acknowledged = ((await res.json()) as { id: number }).id;
    } finally {
      await redis.start();
    }
    const stream = await openWhenSubscribable(`${ctx.server.baseUrl}${eventsPath(op)}`, { ...ctx.owner.auth, 'last-event-id': '0' });
    await stream.ended;
    expect(stream.events.map((e) => [Number(e.id), e.event])).toEqual([[acknowledged, 'done']]);
  }, 30_000);
});

describe('a publish whose COMMIT fails', () => {
  it('answers 503, is seen by no follower, and leaves the status and the sequence as they were', async () => {
    // A fault of the database's own, installed through SQL: a deferred constraint trigger
    // fails the COMMIT of any event of type "doomed" — after its INSERT succeeded.
    await sqlAsAdmin(`
      CREATE FUNCTION test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'injected commit failure' USING ERRCODE = '08006';
      END $$;
      CREATE CONSTRAINT TRIGGER test_fail_commit AFTER INSERT ON operation_events
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.type = 'doomed') EXECUTE FUNCTION test_fail_commit();
    `);
    try {
      const op = await createOperation();
      const follower = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, ctx.owner.auth);
      await until(() => ctx.server.app.eventBus.subscriberCount(operationChannel({ projectId: ctx.project.id, operationId: op })) === 1);

      const doomed = await publish(op, { type: 'doomed', status: 'completed', data: { secret: 1 } });
      expect(doomed.status).toBe(503);
      expect(await doomed.json()).toMatchObject({ error: 'service_unavailable', details: { service: 'postgres' } });

      const next = await publish(op, { type: 'progress', data: { after: true } });
      expect(next.status).toBe(202);
      expect(await next.json()).toMatchObject({ id: 1 });
      await follower.waitFor((events) => events.length >= 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(follower.events.map((e) => [e.id, e.event])).toEqual([['1', 'progress']]);
      const status = (await (await ctx.server.request(operationPath(op), { headers: ctx.owner.auth })).json()) as { status: string };
      expect(status.status).toBe('pending');
      follower.close();
    } finally {
      await sqlAsAdmin('DROP TRIGGER test_fail_commit ON operation_events; DROP FUNCTION test_fail_commit();');
    }
  });
});

describe('resume with an id the history does not have', () => {
  it('when Last-Event-ID is beyond the newest event, sends reset, then the history from its start', async () => {
    const op = await createOperation();
    for (let n = 1; n <= 3; n++) await publish(op, { type: 'progress', data: { n } });
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, { ...ctx.owner.auth, 'last-event-id': '99' });
    await stream.waitFor((events) => events.length === 4);
    expect(stream.events[0]).toMatchObject({ event: 'reset', id: undefined });
    expect(JSON.parse(stream.events[0]?.data ?? '{}')).toEqual({ oldest_id: '1' });
    expect(stream.events.slice(1).map((e) => Number(e.id))).toEqual([1, 2, 3]);
    expect((await publish(op, { type: 'progress' })).status).toBe(202);
    await stream.waitFor((events) => events.length === 5);
    expect(stream.events[4]?.id).toBe('4');
    stream.close();
  });

  it('keeps SSE_REPLAY_EVENTS events: an id older than the retained ones gets reset with the oldest kept', async () => {
    const op = await createOperation();
    for (let n = 1; n <= 14; n++) await publish(op, { type: 'progress', data: { n } });
    const stream = await openStream(`${ctx.server.baseUrl}${eventsPath(op)}`, { ...ctx.owner.auth, 'last-event-id': '1' });
    await stream.waitFor((events) => events.length === 11);
    expect(JSON.parse(stream.events[0]?.data ?? '{}')).toEqual({ oldest_id: '5' });
    expect(stream.events.slice(1).map((e) => Number(e.id))).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    stream.close();
  });
});

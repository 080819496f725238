import { connect } from 'node:net';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { operationChannel } from '../../../src/streaming/events.js';
import { useAppPair, useRedisServer } from '../../helpers/app-fixture.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { openStream, type StreamClient } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';

// This file's own Redis, so it can be stopped and started again.
const redis = useRedisServer();
const apps = useAppPair(() => ({ REDIS_URL: redis.url, SSE_REPLAY_EVENTS: '10', SSE_MAX_BUFFER_BYTES: '65536' }));
let owner: TestUser;
let project: TestProject;

beforeAll(async () => {
  owner = await createUser(apps.first, 'Owner');
  project = await createProject(apps.first, owner, 'Faults');
});

const eventsPath = (op: string) => `/api/v1/projects/${project.id}/operations/${op}/events`;

async function createOperation(server: RunningApp = apps.first): Promise<string> {
  const res = await server.request(`/api/v1/projects/${project.id}/operations`, json(owner, { kind: 'agent_run' }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe('several instances on one Redis', () => {
  it('an event published through instance A reaches a stream open on instance B', async () => {
    const op = await createOperation(apps.first);
    const stream = await openStream(`${apps.second.baseUrl}${eventsPath(op)}`, owner.auth);
    const res = await apps.first.request(eventsPath(op), json(owner, { type: 'progress', data: { from: 'A' } }));
    expect(res.status).toBe(202);
    await stream.waitFor((events) => events.length === 1);
    expect(JSON.parse(stream.events[0]?.data ?? '{}')).toMatchObject({ data: { from: 'A' } });
    stream.close();
  });
});

describe('resume beyond the retained history', () => {
  it('sends reset with the oldest retained id first, then the retained events', async () => {
    const op = await createOperation();
    for (let i = 1; i <= 15; i++) await apps.first.request(eventsPath(op), json(owner, { type: 'progress', data: { i } }));
    const stream = await openStream(`${apps.first.baseUrl}${eventsPath(op)}`, { ...owner.auth, 'last-event-id': '2' });
    await stream.waitFor((events) => events.length === 11);
    expect(stream.events[0]).toMatchObject({ event: 'reset', id: undefined });
    expect(JSON.parse(stream.events[0]?.data ?? '{}')).toEqual({ oldest_id: '6' });
    expect(stream.events.slice(1).map((e) => Number(e.id))).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    stream.close();
  });

  it('sends no reset when the requested id is just before the oldest retained one', async () => {
    const op = await createOperation();
    for (let i = 1; i <= 12; i++) await apps.first.request(eventsPath(op), json(owner, { type: 'progress' }));
    const stream = await openStream(`${apps.first.baseUrl}${eventsPath(op)}`, { ...owner.auth, 'last-event-id': '2' });
    await stream.waitFor((events) => events.length === 10);
    expect(stream.events.map((e) => e.event)).not.toContain('reset');
    stream.close();
  });
});

describe('slow clients (PERF-002)', () => {
  it('a client that never reads is disconnected once its buffer passes the cap; others keep their stream', async () => {
    const op = await createOperation();
    const healthy = await openStream(`${apps.first.baseUrl}${eventsPath(op)}`, owner.auth);
    const port = Number(new URL(apps.first.baseUrl).port);
    const socket = connect(port, '127.0.0.1');
    let closedByServer = false;
    socket.on('close', () => {
      closedByServer = true;
    });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET ${eventsPath(op)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${owner.token}\r\n\r\n`);
    socket.pause(); // never reads: the kernel buffers fill, then the server's queue grows
    await until(() => apps.first.app.eventBus.subscriberCount(operationChannel({ projectId: project.id, operationId: op })) === 2);
    const heapBefore = process.memoryUsage().heapUsed;
    const chunk = 'x'.repeat(60_000);
    let sent = 0;
    while (!closedByServer && sent < 600) {
      const res = await apps.first.request(eventsPath(op), json(owner, { type: 'chunk', data: chunk }));
      expect(res.status).toBe(202);
      sent++;
      if (sent % 20 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await until(() => apps.first.logs.some((l) => l.msg === 'event stream closed' && l.reason === 'slow_client'));
    await until(() => apps.first.app.eventBus.subscriberCount(operationChannel({ projectId: project.id, operationId: op })) === 1);
    // The server held at most the cap (plus what the kernel took) for the stalled client.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
    await healthy.waitFor((events) => events.length === sent);
    healthy.close();
    socket.destroy();
  }, 60_000);
});

describe('Redis outage (REL-001)', () => {
  it('open streams end, publishing still commits (202), new streams are 503; a resume after Redis returns gets every event', async () => {
    const op = await createOperation();
    const stream = await openStream(`${apps.first.baseUrl}${eventsPath(op)}`, owner.auth);
    await until(() => apps.first.app.streams.size >= 1);
    expect((await apps.first.request(eventsPath(op), json(owner, { type: 'progress', data: { n: 1 } }))).status).toBe(202);
    await stream.waitFor((events) => events.length === 1);
    await redis.stop();
    try {
      await stream.ended;
      expect((await apps.first.request(`/api/v1/projects/${project.id}`, { headers: owner.auth })).status).toBe(200);
      // PostgreSQL holds the events: Redis only fans them out (docs/adr/0016).
      for (let n = 2; n <= 4; n++) {
        const pub = await apps.first.request(eventsPath(op), json(owner, { type: 'progress', data: { n } }));
        expect(pub.status).toBe(202);
        expect(await pub.json()).toMatchObject({ id: n });
      }
      const newStream = await apps.first.request(eventsPath(op), { headers: owner.auth });
      expect(newStream.status).toBe(503);
      expect(await newStream.json()).toMatchObject({ error: 'service_unavailable', details: { service: 'redis' } });
      // Health results are cached up to 1 s: wait for readiness to turn.
      let ready = await apps.first.request('/api/v1/health/ready');
      await until(async () => {
        ready = await apps.first.request('/api/v1/health/ready');
        return ready.status === 503;
      });
      const body = (await ready.json()) as { components: Array<{ name: string; status: string }> };
      expect(body.components.find((c) => c.name === 'redis')?.status).toBe('unhealthy');
      // Reconnect attempts fail several times a second; the log gets one line a minute.
      const warnings = () =>
        apps.first.logs.filter((l) => l.level === 'warn' && l.msg === 'redis connection problem' && l.role === 'commands');
      await until(() => warnings().length >= 1);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(warnings().length).toBe(1);
    } finally {
      await redis.start();
    }
    // A new stream needs the subscriber connection back: poll until one opens.
    let again: StreamClient | undefined;
    await until(async () => {
      const attempt = await openStream(`${apps.first.baseUrl}${eventsPath(op)}`, {
        ...owner.auth,
        'last-event-id': stream.events[0]?.id ?? '',
      });
      if (attempt.status === 200) again = attempt;
      else attempt.close();
      return again !== undefined;
    }, 10_000);
    if (!again) throw new Error('no stream after Redis returned');
    expect((await apps.first.request(eventsPath(op), json(owner, { type: 'progress', data: { n: 5 } }))).status).toBe(202);
    await again.waitFor((events) => events.length === 4);
    expect(again.events.map((e) => Number(e.id))).toEqual([2, 3, 4, 5]);
    again.close();
  }, 30_000);
});

describe('shutdown', () => {
  it('ends open streams so close() returns promptly', async () => {
    const env = { DATABASE_URL: apps.db.url, REDIS_URL: inject('redisUrl') };
    const c = await startApp(env);
    const user = await createUser(c, 'Closer');
    const p = await createProject(c, user, 'Closing');
    const res = await c.request(`/api/v1/projects/${p.id}/operations`, json(user, { kind: 'agent_run' }));
    const op = ((await res.json()) as { id: string }).id;
    const stream = await openStream(`${c.baseUrl}/api/v1/projects/${p.id}/operations/${op}/events`, user.auth);
    await until(() => c.app.streams.size === 1);
    const t0 = performance.now();
    await c.close();
    expect(performance.now() - t0).toBeLessThan(2_000);
    await stream.ended;
  });
});

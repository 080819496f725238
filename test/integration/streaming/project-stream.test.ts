import { SignJWT } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { addMember, createProject, createUser, json, type TestUser } from '../../helpers/factories.js';
import { openStream, type ReceivedEvent, type StreamClient } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';
import { bearer, createWorker, type Lease, lease, post, type TestWorker } from '../../helpers/workers.js';

const ISSUER = 'jeex-api';
const AUDIENCE = 'jeex';

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;
let worker: TestWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url, REDIS_URL: inject('redisUrl'), JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  owner = await createUser(server, 'Owner');
  worker = await createWorker(server, 'stream-agent');
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const eventsUrl = (projectId: string) => `${server.baseUrl}/api/v1/projects/${projectId}/events`;

async function lastEventId(projectId: string, user: TestUser = owner): Promise<number> {
  const res = await server.request(`/api/v1/projects/${projectId}`, { headers: user.auth });
  expect(res.status).toBe(200);
  return ((await res.json()) as { last_event_id: number }).last_event_id;
}

async function createOperation(projectId: string, kind = 'agent_run'): Promise<string> {
  const res = await server.request(`/api/v1/projects/${projectId}/operations`, json(owner, { kind }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function publish(projectId: string, op: string, body: Record<string, unknown>): Promise<void> {
  const res = await server.request(`/api/v1/projects/${projectId}/operations/${op}/events`, json(owner, body));
  expect(res.status, await res.clone().text()).toBe(202);
}

const data = (e: ReceivedEvent | undefined) => JSON.parse(e?.data ?? 'null') as Record<string, unknown>;
const ids = (stream: StreamClient) => stream.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** The stored order of a project's events: what every stream must deliver. */
async function storedTypes(projectId: string): Promise<{ seq: number; type: string }[]> {
  const { rows } = await sql<{ seq: number; type: string }>`
    SELECT seq, type FROM project_events WHERE project_id = ${projectId} ORDER BY seq`.execute(server.app.db);
  return rows;
}

describe('GET /api/v1/projects/:project_id/events', () => {
  it('without Last-Event-ID starts live after last_event_id, and carries every kind of project event in order', async () => {
    const project = await createProject(server, owner);
    const member = await createUser(server, 'Member');
    const start = await lastEventId(project.id);
    const stream = await openStream(eventsUrl(project.id), owner.auth);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('x-accel-buffering')).toBe('no');
    expect(stream.headers.get('cache-control')).toContain('no-cache');

    const op = await createOperation(project.id);
    await publish(project.id, op, { type: 'progress', data: { percent: 50 }, status: 'running' });
    const doc = await server.request(`/api/v1/projects/${project.id}/documents/about/versions`, json(owner, { content: '# About' }));
    expect(doc.status).toBe(201);
    const said = await server.request(`/api/v1/projects/${project.id}/messages`, json(owner, { content: 'Hi', reply: false }));
    expect(said.status).toBe(201);
    await addMember(server, owner, project.id, member, 'viewer');
    expect((await server.request(`/api/v1/projects/${project.id}`, json(owner, { name: 'Renamed' }, 'PATCH'))).status).toBe(200);

    const expected = ['operation.created', 'progress', 'document.version_created', 'message.created', 'member.changed', 'project.updated'];
    await stream.waitFor((events) => events.length >= expected.length);
    stream.close();
    expect(stream.events.map((e) => e.event)).toEqual(expected);
    expect(ids(stream)).toEqual(range(start + 1, expected.length));
    expect(data(stream.events[0])).toMatchObject({ operation_id: op, kind: 'agent_run', status: 'pending' });
    expect(data(stream.events[1])).toMatchObject({ operation_id: op, operation_event_id: 1, status: 'running', data: { percent: 50 } });
    expect(data(stream.events[2])).toEqual({ document_type: 'about', version: 1 });
    expect(data(stream.events[3])).toMatchObject({ role: 'user', content: 'Hi', seq: 1 });
    expect(data(stream.events[4])).toEqual({ user_id: member.id, role: 'viewer' });
    expect(data(stream.events[5])).toMatchObject({ name: 'Renamed' });
    expect(await lastEventId(project.id)).toBe(start + expected.length);
  });

  it('Last-Event-ID: 0 replays from the start; a later id resumes after it with nothing missing or repeated', async () => {
    const project = await createProject(server, owner);
    const op = await createOperation(project.id);
    for (let i = 1; i <= 5; i++) await publish(project.id, op, { type: 'step', data: { i } });
    const newest = await lastEventId(project.id);
    const all = await openStream(eventsUrl(project.id), { ...owner.auth, 'last-event-id': '0' });
    await all.waitFor(() => ids(all).at(-1) === newest);
    all.close();
    expect(ids(all)).toEqual(range(1, newest));
    expect(all.events.map((e) => e.event)).toEqual((await storedTypes(project.id)).map((r) => r.type));

    const resumed = await openStream(eventsUrl(project.id), { ...owner.auth, 'last-event-id': String(newest - 2) });
    await publish(project.id, op, { type: 'step', data: { i: 6 } });
    await resumed.waitFor((events) => events.length >= 3);
    resumed.close();
    expect(ids(resumed)).toEqual([newest - 1, newest, newest + 1]);
  });

  it('one stream carries two concurrent operations and a streamed reply, each in its own order, ids gap-free', async () => {
    const project = await createProject(server, owner);
    const start = await lastEventId(project.id);
    const stream = await openStream(eventsUrl(project.id), owner.auth);
    const asked = await server.request(`/api/v1/projects/${project.id}/messages`, json(owner, { content: 'Go' }));
    const { message, operation } = (await asked.json()) as { message: { id: string }; operation: { id: string } };
    let leased: Lease | null = null;
    while (leased?.operation.id !== operation.id) leased = await lease(server, worker, { kinds: ['agent.reply'] });
    const token = bearer(leased.token);
    const created = await server.request(
      `/api/v1/projects/${project.id}/messages`,
      post(token, { role: 'assistant', reply_to: message.id }),
    );
    const replyId = ((await created.json()) as { message: { id: string } }).message.id;
    const [a, b] = await Promise.all([createOperation(project.id), createOperation(project.id)]);
    const N = 30;
    const words = range(1, N).map((i) => `w${i} `);
    await Promise.all([
      (async () => {
        for (let i = 1; i <= N; i++) await publish(project.id, a as string, { type: 'a.step', data: { i } });
      })(),
      (async () => {
        for (let i = 1; i <= N; i++) await publish(project.id, b as string, { type: 'b.step', data: { i } });
      })(),
      (async () => {
        for (let i = 1; i <= N; i++) {
          const res = await server.request(
            `/api/v1/projects/${project.id}/messages/${replyId}/deltas`,
            post(token, { seq: i, text: words[i - 1] }),
          );
          expect(res.status).toBe(202);
        }
      })(),
    ]);
    const newest = await lastEventId(project.id);
    await stream.waitFor(() => ids(stream).at(-1) === newest, 10_000);
    stream.close();
    expect(ids(stream)).toEqual(range(start + 1, newest - start));
    const stored = (await storedTypes(project.id)).filter((r) => r.seq > start);
    expect(stream.events.map((e) => e.event)).toEqual(stored.map((r) => r.type));
    const of = (type: string) => stream.events.filter((e) => e.event === type).map(data);
    expect(of('a.step').map((d) => (d.data as { i: number }).i)).toEqual(range(1, N));
    expect(of('b.step').map((d) => (d.data as { i: number }).i)).toEqual(range(1, N));
    expect(of('a.step').every((d) => d.operation_id === a)).toBe(true);
    const deltas = of('message.delta');
    expect(deltas.map((d) => d.seq)).toEqual(range(1, N));
    expect(deltas.map((d) => d.text).join('')).toBe(words.join(''));
  });

  it('a member removed during a stream gets revoked within 1 s', async () => {
    const project = await createProject(server, owner);
    const member = await createUser(server, 'Leaving');
    await addMember(server, owner, project.id, member, 'viewer');
    const stream = await openStream(eventsUrl(project.id), member.auth);
    expect(stream.status).toBe(200);
    const removedAt = performance.now();
    const res = await server.request(`/api/v1/projects/${project.id}/members/${member.id}`, { method: 'DELETE', headers: owner.auth });
    expect(res.status).toBe(204);
    await stream.waitFor((events) => events.some((e) => e.event === 'revoked'), 3_000);
    await stream.ended;
    const revoked = stream.events.find((e) => e.event === 'revoked');
    expect((revoked?.at ?? Number.POSITIVE_INFINITY) - removedAt).toBeLessThan(1_000);
    expect(data(revoked)).toEqual({ reason: 'member_removed' });
  });

  it('at the token’s exp the stream sends auth_expired and closes', async () => {
    const project = await createProject(server, owner);
    const exp = Math.ceil(Date.now() / 1000) + 2;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: server.app.services.tokens.keys.kid, typ: 'JWT' })
      .setSubject(owner.id)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(server.app.services.tokens.keys.privateKey);
    const stream = await openStream(`${eventsUrl(project.id)}?access_token=${token}`);
    expect(stream.status).toBe(200);
    await stream.waitFor((events) => events.some((e) => e.event === 'auth_expired'), 8_000);
    await stream.ended;
    const expired = stream.events.find((e) => e.event === 'auth_expired');
    const wall = Date.now() - (performance.now() - (expired?.at ?? 0));
    expect(Math.abs(wall - exp * 1000)).toBeLessThan(1_000);
  });

  it('when the client leaves, the project is no longer followed on this instance within 1 s', async () => {
    const project = await createProject(server, owner);
    const before = server.app.projectFeed.followedProjects;
    const stream = await openStream(eventsUrl(project.id), owner.auth);
    await until(() => server.app.projectFeed.followedProjects === before + 1);
    stream.close();
    const waited = await until(() => server.app.projectFeed.followedProjects === before, 1_000);
    expect(waited).toBeLessThan(1_000);
  });
});

describe('the project feed (docs/adr/0022)', () => {
  it('a write on one instance reaches a project stream on another through PostgreSQL alone', async () => {
    const other = await startApp({ DATABASE_URL: db.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
    const project = await createProject(server, owner);
    const start = await lastEventId(project.id);
    const stream = await openStream(`${other.baseUrl}/api/v1/projects/${project.id}/events`, owner.auth);
    expect(stream.status).toBe(200);
    const said = await server.request(`/api/v1/projects/${project.id}/messages`, json(owner, { content: 'across', reply: false }));
    expect(said.status).toBe(201);
    await stream.waitFor((events) => events.length >= 1);
    stream.close();
    expect(stream.events.map((e) => [Number(e.id), e.event])).toEqual([[start + 1, 'message.created']]);
    await other.close();
  });

  it('when its LISTEN connection is killed, it reconnects and delivers what committed meanwhile, in order', async () => {
    const project = await createProject(server, owner);
    const start = await lastEventId(project.id);
    const stream = await openStream(eventsUrl(project.id), owner.auth);
    await until(() => server.app.projectFeed.followedProjects > 0);
    const killed = await sql<{ n: number }>`
      SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'jeex-api-project-feed'`.execute(
      server.app.db,
    );
    expect(killed.rows[0]?.n).toBeGreaterThanOrEqual(1);
    for (let i = 1; i <= 5; i++) {
      const res = await server.request(
        `/api/v1/projects/${project.id}/messages`,
        json(owner, { content: `while down ${i}`, reply: false }),
      );
      expect(res.status).toBe(201);
    }
    await stream.waitFor((events) => events.length >= 5, 10_000);
    stream.close();
    expect(ids(stream)).toEqual(range(start + 1, 5));
    expect(stream.events.map((e) => data(e).content)).toEqual(range(1, 5).map((i) => `while down ${i}`));
  });
});

describe('project stream retention', () => {
  it('keeps SSE_REPLAY_EVENTS events per project; a resume from before them starts with reset', async () => {
    const small = await startApp({ DATABASE_URL: db.url, SSE_REPLAY_EVENTS: '5', JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
    const project = await createProject(small, owner);
    for (let i = 1; i <= 8; i++) {
      const res = await small.request(`/api/v1/projects/${project.id}/messages`, json(owner, { content: `m${i}`, reply: false }));
      expect(res.status).toBe(201);
    }
    const newest = await lastEventId(project.id);
    const stream = await openStream(`${small.baseUrl}/api/v1/projects/${project.id}/events`, { ...owner.auth, 'last-event-id': '0' });
    await stream.waitFor(() => ids(stream).at(-1) === newest);
    stream.close();
    expect(stream.events[0]?.event).toBe('reset');
    expect(data(stream.events[0])).toEqual({ oldest_id: String(newest - 4) });
    expect(ids(stream)).toEqual(range(newest - 4, 5));
    await small.close();
  });
});

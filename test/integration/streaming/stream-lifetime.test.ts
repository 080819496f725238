import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { operationChannel } from '../../../src/streaming/events.js';
import { memberAccessChannel, projectAccessChannel } from '../../../src/streaming/stream-access.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { addMember, createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { freePort, type ServerProcess, spawnTracedServer } from '../../helpers/server-process.js';
import { openStream, type StreamClient } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';

/*
 * Streams that outlive their reason (issue 14 item 6, contract §9, docs/adr/0019): a client
 * that leaves before its stream opens, a member removed, a project deleted, a token expired;
 * and the stream's own server span (item 4), exported when the stream ends.
 */
let db: TestDatabase;
let a: RunningApp;
let b: RunningApp;
let owner: TestUser;

const ISSUER = 'jeex-api';
const AUDIENCE = 'jeex';

beforeAll(async () => {
  db = await createTestDatabase();
  // Two instances on one database and one Redis: access notices must cross instances.
  const env = { DATABASE_URL: db.url, REDIS_URL: inject('redisUrl'), JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
  a = await startApp(env);
  b = await startApp(env);
  owner = await createUser(a, 'Owner');
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

const eventsPath = (projectId: string, op: string) => `/api/v1/projects/${projectId}/operations/${op}/events`;

async function createOperation(projectId: string): Promise<string> {
  const res = await a.request(`/api/v1/projects/${projectId}/operations`, json(owner, { kind: 'agent_run' }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** Wall-clock time (ms since epoch) at which an event was received. */
const wallTime = (at: number) => Date.now() - (performance.now() - at);

function noticeOf(stream: StreamClient, type: string) {
  return stream.events.find((e) => e.event === type);
}

describe('a client that leaves before its stream opens', () => {
  /**
   * Sends the request, then destroys the socket after `delayMs` (0: as soon as the request is
   * written) — before, during or after the awaits that precede the stream (authentication,
   * guard, operation read, subscription, history bounds). Resolves with when it left.
   */
  function abandon(server: RunningApp, path: string, headers: Record<string, string>, delayMs: number): Promise<number> {
    const { port } = new URL(server.baseUrl);
    return new Promise((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(performance.now()));
      socket.on('connect', () => {
        const head = Object.entries({ host: '127.0.0.1', accept: 'text/event-stream', ...headers })
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('');
        socket.write(`GET ${path} HTTP/1.1\r\n${head}\r\n`, () => {
          if (delayMs === 0) socket.destroy();
          else setTimeout(() => socket.destroy(), delayMs);
        });
      });
    });
  }

  it('when 40 connects are dropped at different moments, every stream, subscription and access watch is released within 1 s', async () => {
    const project = await createProject(a, owner, 'Abandoned');
    const op = await createOperation(project.id);
    const count = 40;
    const ids = Array.from({ length: count }, (_, i) => `abandon-${i}`);
    const left = await Promise.all(
      ids.map((id, i) => abandon(a, eventsPath(project.id, op), { ...owner.auth, 'x-correlation-id': id }, i % 2 === 0 ? 0 : i * 5)),
    );
    const lastLeft = Math.max(...left);
    const closedLines = () => new Set(a.logs.filter((l) => l.msg === 'event stream closed').map((l) => l.correlation_id));
    const released = () =>
      a.app.streams.size === 0 &&
      a.app.eventBus.subscriberCount(operationChannel({ projectId: project.id, operationId: op })) === 0 &&
      a.app.eventBus.subscriberCount(projectAccessChannel(project.id)) === 0 &&
      a.app.eventBus.subscriberCount(memberAccessChannel(project.id, owner.id)) === 0;
    // Every request got as far as its handler (each logs how its stream ended), and nothing is held.
    await until(() => ids.every((id) => closedLines().has(id)) && released(), 10_000);
    expect(performance.now() - lastLeft).toBeLessThan(1_000);
    const reasons = a.logs.filter((l) => l.msg === 'event stream closed' && ids.includes(String(l.correlation_id))).map((l) => l.reason);
    expect(new Set(reasons)).toEqual(new Set(['client_gone']));
  });
});

describe('streams end when the caller’s access ends (contract §9)', () => {
  let project: TestProject;
  let member: TestUser;

  beforeAll(async () => {
    project = await createProject(a, owner, 'Access');
    member = await createUser(a, 'Member');
  });

  it('when a member is removed on instance A, their stream on instance B gets revoked and closes within 1 s', async () => {
    await addMember(a, owner, project.id, member, 'viewer');
    const op = await createOperation(project.id);
    const stream = await openStream(`${b.baseUrl}${eventsPath(project.id, op)}`, member.auth);
    expect(stream.status).toBe(200);
    const ownerStream = await openStream(`${b.baseUrl}${eventsPath(project.id, op)}`, owner.auth);
    const removedAt = performance.now();
    const res = await a.request(`/api/v1/projects/${project.id}/members/${member.id}`, { method: 'DELETE', headers: owner.auth });
    expect(res.status).toBe(204);
    await stream.ended;
    const revoked = noticeOf(stream, 'revoked');
    expect(revoked).toBeDefined();
    expect(JSON.parse(revoked?.data ?? '{}')).toEqual({ reason: 'member_removed' });
    expect((revoked?.at ?? Number.POSITIVE_INFINITY) - removedAt).toBeLessThan(1_000);
    // The owner's stream of the same operation is not theirs to lose.
    const publish = await a.request(eventsPath(project.id, op), json(owner, { type: 'progress' }));
    expect(publish.status).toBe(202);
    await ownerStream.waitFor((events) => events.some((e) => e.event === 'progress'));
    expect(noticeOf(ownerStream, 'revoked')).toBeUndefined();
    ownerStream.close();
    expect((await b.request(eventsPath(project.id, op), { headers: member.auth })).status).toBe(403);
    await until(() => b.app.streams.size === 0);
  });

  it('when a demotion keeps the viewer role, the stream stays open and keeps delivering', async () => {
    const editor = await createUser(a, 'Editor');
    await addMember(a, owner, project.id, editor, 'editor');
    const op = await createOperation(project.id);
    const stream = await openStream(`${b.baseUrl}${eventsPath(project.id, op)}`, editor.auth);
    await addMember(a, owner, project.id, editor, 'viewer');
    // Longer than a revocation may take (1 s): a stream that were to close would have by now.
    await new Promise((r) => setTimeout(r, 1_200));
    const publish = await a.request(eventsPath(project.id, op), json(owner, { type: 'progress' }));
    expect(publish.status).toBe(202);
    await stream.waitFor((events) => events.some((e) => e.event === 'progress'));
    expect(noticeOf(stream, 'revoked')).toBeUndefined();
    stream.close();
  });

  it('when the project is deleted on instance A, every stream of it on instance B gets revoked and closes within 1 s', async () => {
    const doomed = await createProject(a, owner, 'Doomed');
    await addMember(a, owner, doomed.id, member, 'editor');
    const op = await createOperation(doomed.id);
    const streams = await Promise.all([
      openStream(`${b.baseUrl}${eventsPath(doomed.id, op)}`, owner.auth),
      openStream(`${b.baseUrl}${eventsPath(doomed.id, op)}`, member.auth),
    ]);
    const deletedAt = performance.now();
    const res = await a.request(`/api/v1/projects/${doomed.id}`, { method: 'DELETE', headers: owner.auth });
    expect(res.status).toBe(204);
    for (const stream of streams) {
      await stream.ended;
      const revoked = noticeOf(stream, 'revoked');
      expect(JSON.parse(revoked?.data ?? '{}')).toEqual({ reason: 'project_deleted' });
      expect((revoked?.at ?? Number.POSITIVE_INFINITY) - deletedAt).toBeLessThan(1_000);
    }
    await until(() => b.app.streams.size === 0 && b.app.eventBus.subscriberCount(projectAccessChannel(doomed.id)) === 0);
  });

  it('at the token’s exp, the stream sends auth_expired and closes', async () => {
    const op = await createOperation(project.id);
    const exp = Math.ceil(Date.now() / 1000) + 3;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: a.app.services.tokens.keys.kid, typ: 'JWT' })
      .setSubject(owner.id)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(a.app.services.tokens.keys.privateKey);
    const stream = await openStream(`${a.baseUrl}${eventsPath(project.id, op)}?access_token=${token}`);
    expect(stream.status).toBe(200);
    await stream.waitFor((events) => events.some((e) => e.event === 'auth_expired'), 8_000);
    await stream.ended;
    const expired = noticeOf(stream, 'auth_expired');
    expect(Math.abs(wallTime(expired?.at ?? 0) - exp * 1000)).toBeLessThan(1_000);
    expect(JSON.parse(expired?.data ?? '{}')).toEqual({ expired_at: new Date(exp * 1000).toISOString() });
    expect(stream.events.at(-1)?.event).toBe('auth_expired');
  });
});

describe('the stream’s own server span (issue 14 item 4)', () => {
  let receiver: OtlpReceiver;
  let server: ServerProcess;
  let base: string;
  let auth: Record<string, string>;
  let projectId: string;

  beforeAll(async () => {
    receiver = new OtlpReceiver(await freePort());
    await receiver.start();
    ({ server, base } = await spawnTracedServer(receiver.url, { DATABASE_URL: db.url, REDIS_URL: inject('redisUrl') }));
    await server.waitForLine(/Server listening/, 30_000);
    const login = await fetch(`${base}/api/v1/auth/dev-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'span@example.com' }),
    });
    auth = { authorization: `Bearer ${((await login.json()) as { access_token: string }).access_token}` };
    const created = await fetch(`${base}/api/v1/projects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ name: 'Spans' }),
    });
    projectId = ((await created.json()) as { id: string }).id;
  }, 60_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await receiver?.stop();
  });

  async function operation(): Promise<string> {
    const res = await fetch(`${base}/api/v1/projects/${projectId}/operations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ kind: 'agent_run' }),
    });
    return ((await res.json()) as { id: string }).id;
  }

  const serverSpan = (correlationId: string) => receiver.spans.find((s) => s.kind === 2 && s.attributes.correlation_id === correlationId);

  it.each([
    ['after its terminal event', 'span-terminal-1', 'completed'],
    ['after the client leaves', 'span-gone-1', 'client_gone'],
  ])('is exported %s, with its route and status 200', async (_when, correlationId, reason) => {
    const op = await operation();
    const path = `/api/v1/projects/${projectId}/operations/${op}/events`;
    const stream = await openStream(`${base}${path}`, { ...auth, 'x-correlation-id': correlationId });
    expect(stream.status).toBe(200);
    if (reason === 'completed') {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ type: 'done', status: 'completed' }),
      });
      expect(res.status).toBe(202);
      await stream.ended;
    } else {
      stream.close();
    }
    await until(() => serverSpan(correlationId) !== undefined, 5_000);
    expect(serverSpan(correlationId)?.attributes).toMatchObject({
      'http.route': '/api/v1/projects/:project_id/operations/:operation_id/events',
      'http.response.status_code': 200,
      'jeex.stream.close_reason': reason,
    });
    // Ended once: a second end() (ours after @fastify/otel's) makes the SDK warn, once per stream.
    expect(server.stdout()).not.toMatch(/ended Span/);
  });
});

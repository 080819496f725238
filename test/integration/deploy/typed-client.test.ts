import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createJeexClient,
  type DocumentVersion,
  followOperationEvents,
  type JeexClient,
  OperationStreamError,
  type Project,
  type StreamMessage,
} from '../../../clients/typescript/index.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';

/*
 * The front end's day, through the typed client only, against the real server over HTTP. The
 * client's types are checked by `npm run check`: a wrong path, parameter or body does not compile.
 */

let server: RunningApp;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  // A short replay history, so the test can make the server drop events a client had not seen.
  server = await startApp({ DATABASE_URL: db.url, SSE_REPLAY_EVENTS: '3' });
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** A fetch that cuts each event stream after `events` events, like a proxy dropping the connection. */
function droppingFetch(events: number, seen: { lastEventId: string | null }[]): typeof fetch {
  return async (input, init) => {
    const isStream = String(input).endsWith('/events');
    if (isStream) seen.push({ lastEventId: new Headers(init?.headers).get('last-event-id') });
    const response = await fetch(input, init);
    if (!isStream || !response.ok || !response.body) return response;
    const upstream = response.body.getReader();
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let pending = '';
    let passed = 0;
    const cut = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await upstream.read();
        if (done) return controller.close();
        pending += decoder.decode(value, { stream: true });
        let end = pending.indexOf('\n\n');
        while (end >= 0) {
          const frame = pending.slice(0, end + 2);
          pending = pending.slice(end + 2);
          controller.enqueue(encoder.encode(frame));
          if (/^id: /m.test(frame) && ++passed >= events) {
            await upstream.cancel();
            return controller.close();
          }
          end = pending.indexOf('\n\n');
        }
      },
      cancel: () => upstream.cancel(),
    });
    return new Response(cut, { status: response.status, headers: response.headers });
  };
}

interface Session {
  readonly api: JeexClient;
  readonly token: string;
  readonly email: string;
}

/** A new user signed in through dev-login, with a client that sends their token. */
async function signIn(name = 'Front End'): Promise<Session> {
  let token = '';
  const api = createJeexClient({ baseUrl: server.baseUrl, token: () => token });
  const email = `front-${randomUUID()}@example.com`;
  const login = await api.POST('/api/v1/auth/dev-login', { body: { email, name } });
  expect(login.response.status).toBe(200);
  token = login.data?.access_token ?? '';
  return { api, token, email };
}

async function newProject(api: JeexClient, name = 'Typed idea'): Promise<Project> {
  const { data, response } = await api.POST('/api/v1/projects', { body: { name, language: 'de' } });
  expect(response.status).toBe(201);
  return data as Project;
}

async function newOperation(api: JeexClient, projectId: string): Promise<string> {
  const { data, error } = await api.POST('/api/v1/projects/{project_id}/operations', {
    params: { path: { project_id: projectId } },
    body: { kind: 'agent_run', input: { step: 1 } },
  });
  expect(error).toBeUndefined();
  expect(data?.status).toBe('pending');
  return data?.id ?? '';
}

async function publish(api: JeexClient, projectId: string, operationId: string, n: number, status?: 'running' | 'completed') {
  const { data, response } = await api.POST('/api/v1/projects/{project_id}/operations/{operation_id}/events', {
    params: { path: { project_id: projectId, operation_id: operationId } },
    body: { type: 'progress', data: { n }, ...(status ? { status } : {}) },
  });
  expect(response.status).toBe(202);
  return data;
}

const ids = (messages: StreamMessage[]) => messages.map((m) => (m.kind === 'event' ? m.event.id : `reset@${m.oldestId}`));

describe('the typed client (clients/typescript) against the running API', () => {
  it('when a user signs in with dev-login, reads them back as the current user', async () => {
    let token = '';
    const api = createJeexClient({ baseUrl: server.baseUrl, token: () => token });
    const email = `front-${randomUUID()}@example.com`;
    const login = await api.POST('/api/v1/auth/dev-login', { body: { email, name: 'Front End' } });
    expect(login.response.status).toBe(200);
    expect(login.data?.token_type).toBe('bearer');
    token = login.data?.access_token ?? '';

    const me = await api.GET('/api/v1/auth/me');
    expect(me.data).toMatchObject({ email, name: 'Front End' });
  });

  it('when a project is created, returns it typed; what the API refuses comes back as the typed error body', async () => {
    const { api } = await signIn();
    const project = await newProject(api);
    expect(project).toMatchObject({ name: 'Typed idea', language: 'de', role: 'owner', status: 'draft' });

    // The compiler refuses a language outside ISO 639-1; the server refuses it too, in the contract's body.
    // @ts-expect-error 'xx' is not a language code
    const refused = await api.POST('/api/v1/projects', { body: { name: 'Bad', language: 'xx' } });
    expect(refused.response.status).toBe(422);
    expect(refused.error?.error).toBe('validation_error');

    const stranger = await api.GET('/api/v1/projects/{project_id}', { params: { path: { project_id: randomUUID() } } });
    expect(stranger.error).toMatchObject({ error: 'forbidden', status_code: 403 });
  });

  it('when two versions of a document are written, reads them back by number, as latest and as a list', async () => {
    const { api } = await signIn();
    const project = await newProject(api);
    const path = { project_id: project.id, document_type: 'about' as const };
    const written: DocumentVersion[] = [];
    for (const content of ['# Idea\n\nFirst draft.', '# Idea\n\nSecond draft.']) {
      const { data, response } = await api.POST('/api/v1/projects/{project_id}/documents/{document_type}/versions', {
        params: { path },
        body: { content, metadata: { author: 'front-end' } },
      });
      expect(response.status).toBe(201);
      written.push(data as DocumentVersion);
    }
    expect(written.map((d) => d.version)).toEqual([1, 2]);

    const latest = await api.GET('/api/v1/projects/{project_id}/documents/{document_type}/versions/{version}', {
      params: { path: { ...path, version: 'latest' } },
    });
    expect(latest.data).toMatchObject({ version: 2, content: '# Idea\n\nSecond draft.' });
    const first = await api.GET('/api/v1/projects/{project_id}/documents/{document_type}/versions/{version}', {
      params: { path: { ...path, version: '1' } },
    });
    expect(first.data?.content).toBe('# Idea\n\nFirst draft.');

    // limit and offset have defaults: the client may leave them out.
    const listed = await api.GET('/api/v1/projects/{project_id}/documents/{document_type}/versions', { params: { path } });
    expect(listed.data?.items.map((v) => v.version)).toEqual([2, 1]);
  });

  it('when the connection drops, resumes with Last-Event-ID and delivers every event once, up to the terminal one', async () => {
    const { api, token } = await signIn();
    const project = await newProject(api);
    const operationId = await newOperation(api, project.id);
    await publish(api, project.id, operationId, 1, 'running');
    await publish(api, project.id, operationId, 2);

    // A first session sees events 1 and 2, then the user closes the page.
    const firstSession: StreamMessage[] = [];
    for await (const message of followOperationEvents({ baseUrl: server.baseUrl, projectId: project.id, operationId, token })) {
      firstSession.push(message);
      if (firstSession.length === 2) break;
    }
    expect(ids(firstSession)).toEqual([1, 2]);

    // Meanwhile the worker goes on.
    await publish(api, project.id, operationId, 3);

    // The next session resumes after 2; its connection is cut after each event (a flaky proxy),
    // and the helper reconnects with Last-Event-ID every time.
    const requests: { lastEventId: string | null }[] = [];
    const secondSession: StreamMessage[] = [];
    for await (const message of followOperationEvents({
      baseUrl: server.baseUrl,
      projectId: project.id,
      operationId,
      token,
      lastEventId: 2,
      fetch: droppingFetch(1, requests),
    })) {
      secondSession.push(message);
      if (message.kind === 'event' && message.event.id === 3) await publish(api, project.id, operationId, 4);
      if (message.kind === 'event' && message.event.id === 4) await publish(api, project.id, operationId, 5, 'completed');
    }
    expect(ids(secondSession)).toEqual([3, 4, 5]);
    expect(requests.map((r) => r.lastEventId)).toEqual(['2', '3', '4']);
    expect(secondSession.at(-1)).toMatchObject({ kind: 'event', event: { status: 'completed', data: { n: 5 } } });

    const operation = await api.GET('/api/v1/projects/{project_id}/operations/{operation_id}', {
      params: { path: { project_id: project.id, operation_id: operationId } },
    });
    expect(operation.data?.status).toBe('completed');
  }, 20_000);

  it('when the server no longer holds the missed events, says so with a reset before the rest', async () => {
    const { api, token } = await signIn();
    const project = await newProject(api);
    const operationId = await newOperation(api, project.id);
    for (let n = 1; n <= 5; n++) await publish(api, project.id, operationId, n, n === 5 ? 'completed' : 'running');

    const messages: StreamMessage[] = [];
    for await (const message of followOperationEvents({
      baseUrl: server.baseUrl,
      projectId: project.id,
      operationId,
      token,
      lastEventId: 1,
    })) {
      messages.push(message);
    }
    // SSE_REPLAY_EVENTS=3: events 3, 4 and 5 are retained; 2 is gone.
    expect(ids(messages)).toEqual(['reset@3', 3, 4, 5]);
  });

  it('when the stream is refused (not a member), throws the error body without retrying', async () => {
    const { token } = await signIn();
    const attempts: { lastEventId: string | null }[] = [];
    const follow = followOperationEvents({
      baseUrl: server.baseUrl,
      projectId: randomUUID(),
      operationId: randomUUID(),
      token,
      fetch: droppingFetch(1, attempts),
    });
    const failure = await follow.next().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OperationStreamError);
    expect(failure).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(attempts).toHaveLength(1);
  });
});

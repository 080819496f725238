import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { addMember, createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { bearer, createWorker, type Lease, lease, post, type TestWorker } from '../../helpers/workers.js';

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;
let worker: TestWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url });
  owner = await createUser(server, 'Owner');
  worker = await createWorker(server, 'scribe');
});

interface MessageBody {
  id: string;
  seq: number;
  role: string;
  author: { user_id: string; agent: string | null };
  content: string;
  last_delta_seq: number;
  status: string;
  metadata: Record<string, unknown>;
  reply_to: string | null;
  operation_id: string | null;
  completed_at: string | null;
}

const messagesPath = (projectId: string) => `/api/v1/projects/${projectId}/messages`;

async function say(project: TestProject, content: string, extra: Record<string, unknown> = {}) {
  const res = await server.request(messagesPath(project.id), json(owner, { content, ...extra }));
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { message: MessageBody; operation: { id: string; kind: string; status: string } | null };
}

/** A user message with a reply, leased by the worker: its operation token and the message. */
async function conversationTurn(project: TestProject): Promise<{ asked: MessageBody; leased: Lease }> {
  const { message, operation } = await say(project, 'Summarise, please');
  // Other tests leave agent.reply operations pending: lease until this one comes up (oldest first).
  for (;;) {
    const leased = await lease(server, worker, { kinds: ['agent.reply'] });
    expect(leased).not.toBeNull();
    if (leased?.operation.id === operation?.id) return { asked: message, leased: leased as Lease };
  }
}

async function openReply(project: TestProject, leased: Lease, replyTo: string): Promise<MessageBody> {
  const res = await server.request(messagesPath(project.id), post(bearer(leased.token), { role: 'assistant', reply_to: replyTo }));
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { message: MessageBody }).message;
}

const delta = (project: TestProject, token: string, messageId: string, seq: number, text: string) =>
  server.request(`${messagesPath(project.id)}/${messageId}/deltas`, post(bearer(token), { seq, text }));

async function countMessages(): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM messages`.execute(server.app.db);
  return rows[0]?.n ?? -1;
}

describe('POST /api/v1/projects/:project_id/messages (a user message)', () => {
  it('when reply is left out, stores the message and starts an agent.reply operation naming it', async () => {
    const project = await createProject(server, owner);
    const { message, operation } = await say(project, 'Hello');
    expect(message).toMatchObject({ role: 'user', content: 'Hello', status: 'complete', author: { user_id: owner.id, agent: null } });
    expect(message.seq).toBe(1);
    expect(message.operation_id).toBe(operation?.id);
    const op = await server.request(`/api/v1/projects/${project.id}/operations/${operation?.id}`, { headers: owner.auth });
    expect(await op.json()).toMatchObject({ kind: 'agent.reply', status: 'pending', input: { message_id: message.id } });
  });

  it('writes one audit entry in its transaction, naming the message and not its text (contract §12)', async () => {
    const project = await createProject(server, owner);
    const { message, operation } = await say(project, 'audited words');
    const { rows } = await sql<{ action: string; target: string; changes: Record<string, unknown> }>`
      SELECT action, target_id AS target, changes FROM audit_log WHERE project_id = ${project.id} AND target_type = 'message'`.execute(
      server.app.db,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'message.create', target: message.id });
    expect(rows[0]?.changes).toMatchObject({ reply: true, operation_id: operation?.id });
    expect(JSON.stringify(rows[0]?.changes)).not.toContain('audited words');
  });

  it('when reply is false, starts no operation', async () => {
    const project = await createProject(server, owner);
    const { message, operation } = await say(project, 'Just a note', { reply: false });
    expect(operation).toBeNull();
    expect(message.operation_id).toBeNull();
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM operations WHERE project_id = ${project.id}`.execute(
      server.app.db,
    );
    expect(rows[0]?.n).toBe(0);
  });

  it.each([
    ['no content', {}],
    ['empty content', { content: '' }],
    ['reply_to on a user message', { content: 'x', reply_to: '0193a6f3-1d2e-7f30-9b4c-5d6e7f809102' }],
    ['a question without options', { content: 'x', metadata: { questions: [{ id: 'q1', text: 'Which?' }] } }],
    [
      'two questions with one id',
      {
        content: 'x',
        metadata: {
          questions: [
            { id: 'q1', text: 'A?', options: [] },
            { id: 'q1', text: 'B?', options: [] },
          ],
        },
      },
    ],
    ['an answer with neither option nor text', { content: 'x', metadata: { answers: [{ question_id: 'q1' }] } }],
    ['an answer with an unknown field', { content: 'x', metadata: { answers: [{ question_id: 'q1', text: 'y', extra: 1 }] } }],
    ['a NUL in the content', { content: 'a\u0000b' }],
  ])('when the body has %s, answers 422 and writes nothing', async (_what, body) => {
    const project = await createProject(server, owner);
    const before = await countMessages();
    const res = await server.request(messagesPath(project.id), json(owner, body));
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ error: 'validation_error' });
    expect(await countMessages()).toBe(before);
  });

  it('when metadata holds valid questions or answers, stores them as given', async () => {
    const project = await createProject(server, owner);
    const questions = [{ id: 'q1', text: 'Which stack?', options: [{ id: 'a', text: 'Node' }] }];
    const answers = [
      { question_id: 'q1', option_id: 'a' },
      { question_id: 'q2', text: 'free text' },
    ];
    expect((await say(project, 'q', { reply: false, metadata: { questions } })).message.metadata).toEqual({ questions });
    expect((await say(project, 'a', { reply: false, metadata: { answers } })).message.metadata).toEqual({ answers });
  });
});

describe('an assistant message streamed in deltas', () => {
  it('the operation token opens it, deltas append in seq order, a repeat is 200, a gap 409, PATCH ends it', async () => {
    const project = await createProject(server, owner);
    const { asked, leased } = await conversationTurn(project);
    const reply = await openReply(project, leased, asked.id);
    expect(reply).toMatchObject({ role: 'assistant', content: '', status: 'streaming', reply_to: asked.id, last_delta_seq: 0 });
    expect(reply.author).toEqual({ user_id: owner.id, agent: 'scribe' });
    expect(reply.operation_id).toBe(leased.operation.id);

    expect((await delta(project, leased.token, reply.id, 1, 'Hel')).status).toBe(202);
    expect((await delta(project, leased.token, reply.id, 2, 'lo')).status).toBe(202);
    const repeat = await delta(project, leased.token, reply.id, 2, 'lo');
    expect(repeat.status).toBe(200);
    expect(await repeat.json()).toMatchObject({ applied: false, last_seq: 2 });
    const gap = await delta(project, leased.token, reply.id, 4, '!');
    expect(gap.status).toBe(409);
    expect(await gap.json()).toMatchObject({ error: 'conflict' });
    expect((await delta(project, leased.token, reply.id, 3, ', world')).status).toBe(202);

    const read = (await (await server.request(`${messagesPath(project.id)}/${reply.id}`, { headers: owner.auth })).json()) as MessageBody;
    expect(read).toMatchObject({ content: 'Hello, world', last_delta_seq: 3, status: 'streaming' });
    const readRes = await server.request(`${messagesPath(project.id)}/${reply.id}`, { headers: owner.auth });
    const etag = readRes.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[^"]+"$/);
    const unchanged = await server.request(`${messagesPath(project.id)}/${reply.id}`, {
      headers: { ...owner.auth, 'if-none-match': etag },
    });
    expect(unchanged.status).toBe(304);

    const done = await server.request(
      `${messagesPath(project.id)}/${reply.id}`,
      post(bearer(leased.token), { status: 'complete' }, 'PATCH'),
    );
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ status: 'complete', content: 'Hello, world' });
    expect((await delta(project, leased.token, reply.id, 4, 'late')).status).toBe(409);
    const ended = await server.request(`${messagesPath(project.id)}/${reply.id}`, { headers: { ...owner.auth, 'if-none-match': etag } });
    expect(ended.status).toBe(200);
    const again = await server.request(
      `${messagesPath(project.id)}/${reply.id}`,
      post(bearer(leased.token), { status: 'failed' }, 'PATCH'),
    );
    expect(again.status).toBe(409);
  });

  it('concurrent deliveries of the same deltas apply each exactly once', async () => {
    const project = await createProject(server, owner);
    const { asked, leased } = await conversationTurn(project);
    const reply = await openReply(project, leased, asked.id);
    const parts = Array.from({ length: 30 }, (_, i) => `<${i + 1}>`);
    for (let i = 0; i < parts.length; i++) {
      const statuses = await Promise.all([1, 2, 3].map(() => delta(project, leased.token, reply.id, i + 1, parts[i] as string)));
      expect(statuses.map((r) => r.status).sort()).toEqual([200, 200, 202]);
    }
    const read = (await (await server.request(`${messagesPath(project.id)}/${reply.id}`, { headers: owner.auth })).json()) as MessageBody;
    expect(read.content).toBe(parts.join(''));
  });
});

describe('who may write what (isolation)', () => {
  it('a user token writing an assistant message is 403, and so is a worker credential', async () => {
    const project = await createProject(server, owner);
    const { message } = await say(project, 'hi', { reply: false });
    const before = await countMessages();
    const asUser = await server.request(messagesPath(project.id), json(owner, { role: 'assistant', reply_to: message.id }));
    expect(asUser.status).toBe(403);
    const asWorker = await server.request(messagesPath(project.id), post(worker.auth, { role: 'assistant', reply_to: message.id }));
    expect(asWorker.status).toBe(403);
    expect(await countMessages()).toBe(before);
  });

  it('an operation token writing a user message is 403 and writes nothing', async () => {
    const project = await createProject(server, owner);
    const { leased } = await conversationTurn(project);
    const before = await countMessages();
    const res = await server.request(messagesPath(project.id), post(bearer(leased.token), { content: 'pretending to be the user' }));
    expect(res.status).toBe(403);
    expect(await countMessages()).toBe(before);
  });

  it("an operation token of project A on project B's messages is 403 and writes nothing", async () => {
    const projectA = await createProject(server, owner, 'A');
    const projectB = await createProject(server, owner, 'B');
    const { asked, leased } = await conversationTurn(projectA);
    const replyA = await openReply(projectA, leased, asked.id);
    const inB = (await say(projectB, 'in B', { reply: false })).message;
    const before = await countMessages();
    const writes = [
      server.request(messagesPath(projectB.id), post(bearer(leased.token), { role: 'assistant', reply_to: inB.id })),
      delta(projectB, leased.token, replyA.id, 1, 'x'),
      server.request(`${messagesPath(projectB.id)}/${replyA.id}`, post(bearer(leased.token), { status: 'complete' }, 'PATCH')),
      server.request(messagesPath(projectB.id), { headers: bearer(leased.token) }),
    ];
    for (const res of await Promise.all(writes)) expect(res.status).toBe(403);
    expect(await countMessages()).toBe(before);
    const stillEmpty = (await (
      await server.request(`${messagesPath(projectA.id)}/${replyA.id}`, { headers: owner.auth })
    ).json()) as MessageBody;
    expect(stillEmpty.content).toBe('');
  });

  it("another operation's token cannot append to or end a reply it did not write", async () => {
    const project = await createProject(server, owner);
    const first = await conversationTurn(project);
    const reply = await openReply(project, first.leased, first.asked.id);
    const second = await conversationTurn(project);
    expect((await delta(project, second.leased.token, reply.id, 1, 'x')).status).toBe(403);
    expect((await delta(project, owner.token, reply.id, 1, 'x')).status).toBe(403);
    const patch = await server.request(
      `${messagesPath(project.id)}/${reply.id}`,
      post(bearer(second.leased.token), { status: 'complete' }, 'PATCH'),
    );
    expect(patch.status).toBe(403);
  });

  it('a non-member walking every conversation route gets 403 and nothing is written', async () => {
    const project = await createProject(server, owner);
    const { asked, leased } = await conversationTurn(project);
    const reply = await openReply(project, leased, asked.id);
    const stranger = await createUser(server, 'Stranger');
    const viewer = await createUser(server, 'Viewer');
    await addMember(server, owner, project.id, viewer, 'viewer');
    const before = await countMessages();
    const base = messagesPath(project.id);
    for (const who of [stranger, viewer]) {
      const calls: [string, RequestInit][] = [
        [base, json(who, { content: 'sneak' })],
        [base, json(who, { role: 'assistant', reply_to: asked.id })],
        [`${base}/${reply.id}/deltas`, json(who, { seq: 1, text: 'x' })],
        [`${base}/${reply.id}`, json(who, { status: 'complete' }, 'PATCH')],
      ];
      if (who === stranger) {
        calls.push(
          [base, { headers: who.auth }],
          [`${base}/${reply.id}`, { headers: who.auth }],
          [`/api/v1/projects/${project.id}/events`, { headers: who.auth }],
        );
      }
      for (const [path, init] of calls) {
        const res = await server.request(path, init);
        expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(403);
        expect(await res.json()).toMatchObject({ error: 'forbidden' });
      }
    }
    expect(await countMessages()).toBe(before);
    const read = (await (await server.request(`${base}/${reply.id}`, { headers: owner.auth })).json()) as MessageBody;
    expect(read).toMatchObject({ content: '', status: 'streaming' });
  });
});

describe('GET /api/v1/projects/:project_id/messages', () => {
  it('pages newest first by seq with next_before, null on the last page', async () => {
    const project = await createProject(server, owner);
    for (let i = 1; i <= 7; i++) await say(project, `m${i}`, { reply: false });
    const seen: number[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const query: string = before === null ? '?limit=3' : `?limit=3&before=${before}`;
      const page = (await (await server.request(`${messagesPath(project.id)}${query}`, { headers: owner.auth })).json()) as {
        items: MessageBody[];
        next_before: number | null;
      };
      seen.push(...page.items.map((m) => m.seq));
      before = page.next_before;
      pages++;
    } while (before !== null);
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(pages).toBe(3);
  });

  it('an unknown message is 404; a limit of 0 or 101 is 422', async () => {
    const project = await createProject(server, owner);
    const missing = '01a21596-0000-7000-8000-000000000000';
    expect((await server.request(`${messagesPath(project.id)}/${missing}`, { headers: owner.auth })).status).toBe(404);
    expect((await server.request(`${messagesPath(project.id)}?limit=0`, { headers: owner.auth })).status).toBe(422);
    expect((await server.request(`${messagesPath(project.id)}?limit=101`, { headers: owner.auth })).status).toBe(422);
  });
});

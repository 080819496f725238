import { beforeAll, describe, expect, inject, it } from 'vitest';
import { type Conversation, openConversation } from '../../../clients/typescript/conversation.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { openStream } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from '../../helpers/worker-process.js';
import { createWorker } from '../../helpers/workers.js';

/*
 * Issue 16, "prove it": a page reloaded in the middle of a reply reads the conversation (the
 * project's last_event_id, then the messages) and resumes the project stream from that id, with
 * the typed client's conversation helper. A real worker process (scripts/example-worker.ts)
 * streams the reply in deltas; whatever the moment of the reload, the text the page ends with is
 * the worker's own text: nothing missing, nothing doubled.
 */

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;
let project: TestProject;
let agent: WorkerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url, REDIS_URL: inject('redisUrl') });
  owner = await createUser(server, 'Owner');
  project = await createProject(server, owner, 'Reloads');
  const doc = await server.request(
    `/api/v1/projects/${project.id}/documents/about/versions`,
    json(owner, { content: '# Bikes for all\n\nA city app.' }),
  );
  expect(doc.status).toBe(201);
  const worker = await createWorker(server, 'fake-agent');
  agent = startWorkerProcess({
    JEEX_API_URL: server.baseUrl,
    JEEX_WORKER_TOKEN: worker.token,
    WORKER_KINDS: 'agent.reply',
    FAKE_AGENT_CHUNK: '3',
    FAKE_AGENT_DELTA_MS: '4',
  });
  await agent.waitFor((line) => line.msg === 'fake agent started', 30_000);
}, 60_000);

const RELOADS_PER_REPLY = 25;
const REPLIES = 4;
/** Reloads spread over this long after the reply's first delta (the reply lasts longer: ~300 deltas). */
const RELOAD_WINDOW_MS = 1_200;

interface Reload {
  readonly conversation: Conversation;
  /** The reply was streaming, with some text, when this page read the conversation. */
  readonly midReply: boolean;
}

describe('a page reloaded in the middle of a reply (issue 16)', () => {
  it(`${REPLIES * RELOADS_PER_REPLY} reloads at random points all end with the worker's full text: 0 missing, 0 doubled`, async () => {
    const outcomes: { midReply: boolean; equal: boolean; missing: number; doubled: number }[] = [];
    for (let r = 0; r < REPLIES; r++) {
      // A watcher that sees the first delta, to time the reloads inside the reply.
      const watcher = await openStream(`${server.baseUrl}/api/v1/projects/${project.id}/events`, owner.auth);
      const said = `Reply ${r}: ${'tell me about the bikes and the city, '.repeat(20)}`;
      const asked = await server.request(`/api/v1/projects/${project.id}/messages`, json(owner, { content: said }));
      expect(asked.status).toBe(201);
      const { operation } = (await asked.json()) as { operation: { id: string } };
      await watcher.waitFor((events) => events.some((e) => e.event === 'message.delta'), 30_000);
      watcher.close();

      const reloads = await Promise.all(
        Array.from({ length: RELOADS_PER_REPLY }, async (): Promise<Reload> => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * RELOAD_WINDOW_MS));
          const conversation = await openConversation({ baseUrl: server.baseUrl, projectId: project.id, token: owner.token });
          const reply = conversation.messages.find((m) => m.role === 'assistant' && m.operation_id === operation.id);
          return { conversation, midReply: reply?.status === 'streaming' && reply.content.length > 0 };
        }),
      );
      const written = await agent.waitFor((line) => line.msg === 'reply written' && line.operation_id === operation.id, 60_000);
      const text = String(written.text);
      for (const { conversation, midReply } of reloads) {
        const reply = () => conversation.messages.find((m) => m.role === 'assistant' && m.operation_id === operation.id);
        await until(() => reply()?.status === 'complete', 15_000);
        const content = reply()?.content ?? '';
        outcomes.push({
          midReply,
          equal: content === text,
          missing: Math.max(0, text.length - content.length),
          doubled: Math.max(0, content.length - text.length),
        });
        conversation.close();
      }
    }
    const mid = outcomes.filter((o) => o.midReply).length;
    expect(outcomes).toHaveLength(REPLIES * RELOADS_PER_REPLY);
    expect(outcomes.reduce((n, o) => n + o.missing, 0)).toBe(0);
    expect(outcomes.reduce((n, o) => n + o.doubled, 0)).toBe(0);
    expect(outcomes.every((o) => o.equal)).toBe(true);
    // Most reloads must really land inside a reply, or this proves nothing.
    expect(mid).toBeGreaterThanOrEqual(REPLIES * RELOADS_PER_REPLY * 0.8);
  }, 240_000);
});

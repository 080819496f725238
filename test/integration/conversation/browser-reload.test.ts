import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { browserWithPage } from '../../helpers/browser-page.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { startWorkerProcess, type WorkerProcess } from '../../helpers/worker-process.js';
import { createWorker } from '../../helpers/workers.js';

/*
 * A real Chromium tab follows a project stream with its own EventSource while a real worker
 * process streams a reply; the page is reloaded in the middle of the reply. On load the page does
 * what docs/contract.md §9–§10 prescribe: read the project's last_event_id, then the messages,
 * then follow the stream from that id, applying a delta only when it is the next of its message.
 */
const PAGE = `<!doctype html><html><body><pre id="reply"></pre><script>
  const params = new URLSearchParams(location.search);
  const api = params.get('api'), project = params.get('project'), token = params.get('token'), op = params.get('op');
  const auth = { headers: { authorization: 'Bearer ' + token } };
  const messages = new Map();
  window.loads = Number(sessionStorage.getItem('loads') || 0) + 1;
  sessionStorage.setItem('loads', String(window.loads));
  window.deltasSeen = 0;
  window.done = false;
  const render = () => {
    const reply = [...messages.values()].find((m) => m.role === 'assistant' && m.operation_id === op);
    document.getElementById('reply').textContent = reply ? reply.content : '';
    window.done = reply ? reply.status === 'complete' : false;
  };
  (async () => {
    const base = api + '/api/v1/projects/' + project;
    const { last_event_id } = await (await fetch(base, auth)).json();
    const page = await (await fetch(base + '/messages?limit=50', auth)).json();
    for (const m of page.items) messages.set(m.id, m);
    render();
    const es = new EventSource(base + '/events?last_event_id=' + last_event_id + '&access_token=' + token);
    es.addEventListener('message.created', (e) => { const m = JSON.parse(e.data); if (!messages.has(m.id)) messages.set(m.id, m); render(); });
    es.addEventListener('message.delta', async (e) => {
      window.deltasSeen += 1;
      const d = JSON.parse(e.data), m = messages.get(d.message_id);
      if (m && d.seq <= m.last_delta_seq) return;
      if (m && d.seq === m.last_delta_seq + 1) { m.content += d.text; m.last_delta_seq = d.seq; }
      else messages.set(d.message_id, await (await fetch(base + '/messages/' + d.message_id, auth)).json());
      render();
    });
    es.addEventListener('message.completed', async (e) => {
      const d = JSON.parse(e.data), m = messages.get(d.message_id);
      if (!m || m.last_delta_seq < d.last_delta_seq) messages.set(d.message_id, await (await fetch(base + '/messages/' + d.message_id, auth)).json());
      else m.status = d.status;
      render();
    });
  })();
</script></body></html>`;

let db: TestDatabase;
let server: RunningApp;
let pageOrigin: string;
let browser: Browser;
let owner: TestUser;
let project: TestProject;
let agent: WorkerProcess;

beforeAll(async () => {
  ({ browser, pageOrigin } = await browserWithPage(PAGE));
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url, REDIS_URL: inject('redisUrl'), CORS_ORIGINS: pageOrigin });
  owner = await createUser(server, 'Browser user');
  project = await createProject(server, owner, 'Chat');
  const worker = await createWorker(server, 'fake-agent');
  agent = startWorkerProcess({
    JEEX_API_URL: server.baseUrl,
    JEEX_WORKER_TOKEN: worker.token,
    WORKER_KINDS: 'agent.reply',
    FAKE_AGENT_CHUNK: '2',
    FAKE_AGENT_DELTA_MS: '15',
  });
  await agent.waitFor((line) => line.msg === 'fake agent started', 30_000);
}, 300_000);

describe('a Chromium tab following a project stream', () => {
  it('reloaded in the middle of a reply, renders exactly the final message', async () => {
    const asked = await server.request(
      `/api/v1/projects/${project.id}/messages`,
      json(owner, { content: 'Tell me everything. '.repeat(8) }),
    );
    const { operation } = (await asked.json()) as { operation: { id: string } };
    const tab = await browser.newPage();
    const query = new URLSearchParams({ api: server.baseUrl, project: project.id, token: owner.token, op: operation.id });
    await tab.goto(`${pageOrigin}/?${query}`);
    await tab.waitForFunction(() => (globalThis as unknown as { deltasSeen: number }).deltasSeen >= 10, undefined, { timeout: 30_000 });
    expect(await tab.evaluate(() => (globalThis as unknown as { done: boolean }).done)).toBe(false);

    await tab.reload();
    await tab.waitForFunction(() => (globalThis as unknown as { loads: number }).loads === 2);
    const afterReload = (await tab.textContent('#reply')) ?? '';
    await tab.waitForFunction(() => (globalThis as unknown as { done: boolean }).done, undefined, { timeout: 60_000 });

    const written = await agent.waitFor((line) => line.msg === 'reply written' && line.operation_id === operation.id, 30_000);
    const rendered = (await tab.textContent('#reply')) ?? '';
    const messages = (await (await server.request(`/api/v1/projects/${project.id}/messages`, { headers: owner.auth })).json()) as {
      items: { role: string; content: string; status: string }[];
    };
    const stored = messages.items.find((m) => m.role === 'assistant');
    expect(stored?.status).toBe('complete');
    expect(rendered).toBe(stored?.content);
    expect(rendered).toBe(written.text);
    // The reload really happened mid-reply: the page came back with part of the text, not all of it.
    expect(afterReload.length).toBeLessThan(rendered.length);
    await tab.close();
  }, 120_000);
});

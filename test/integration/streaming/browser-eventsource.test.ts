import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { browserWithPage } from '../../helpers/browser-page.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';

/*
 * A real browser (headless Chromium, found or installed by test/helpers/browser.ts) follows
 * an operation with its own EventSource, authenticated by the access_token query, from a page
 * on another origin (CORS), and resumes by itself after the server drops the connection.
 */
const PAGE = `<!doctype html><html><body><script>
  window.received = [];
  window.opens = 0;
  const params = new URLSearchParams(location.search);
  const es = new EventSource(params.get('stream'));
  es.onopen = () => { window.opens += 1; };
  es.addEventListener('progress', (e) => window.received.push({ id: e.lastEventId, data: JSON.parse(e.data).data }));
</script></body></html>`;

let db: TestDatabase;
let server: RunningApp;
let pageOrigin: string;
let browser: Browser;
let owner: TestUser;
let project: TestProject;

beforeAll(async () => {
  ({ browser, pageOrigin } = await browserWithPage(PAGE));
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url, REDIS_URL: inject('redisUrl'), CORS_ORIGINS: pageOrigin });
  owner = await createUser(server, 'Browser user');
  project = await createProject(server, owner, 'Live');
}, 300_000);

describe('browser EventSource', () => {
  it('receives published events and resumes without loss after the server drops the connection', async () => {
    const created = await server.request(`/api/v1/projects/${project.id}/operations`, json(owner, { kind: 'agent_run' }));
    const op = ((await created.json()) as { id: string }).id;
    const eventsPath = `/api/v1/projects/${project.id}/operations/${op}/events`;
    const stream = `${server.baseUrl}${eventsPath}?access_token=${owner.token}`;
    const tab = await browser.newPage();
    await tab.goto(`${pageOrigin}/?stream=${encodeURIComponent(stream)}`);
    await tab.waitForFunction(() => (globalThis as unknown as { opens: number }).opens === 1);

    for (let i = 1; i <= 3; i++) await server.request(eventsPath, json(owner, { type: 'progress', data: i }));
    await tab.waitForFunction(() => (globalThis as unknown as { received: unknown[] }).received.length === 3);

    // The server drops every stream (as on a deploy); events published meanwhile must not be lost.
    server.app.streams.closeAll('shutdown');
    for (let i = 4; i <= 6; i++) await server.request(eventsPath, json(owner, { type: 'progress', data: i }));
    await tab.waitForFunction(() => (globalThis as unknown as { received: unknown[] }).received.length >= 6, undefined, {
      timeout: 10_000,
    });

    const received = await tab.evaluate(() => (globalThis as unknown as { received: Array<{ id: string; data: number }> }).received);
    expect(received.map((r) => r.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(received.map((r) => r.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(await tab.evaluate(() => (globalThis as unknown as { opens: number }).opens)).toBe(2);
    await tab.close();
  }, 30_000);
});

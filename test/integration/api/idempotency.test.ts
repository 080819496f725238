import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { queryRows, snapshot } from '../../helpers/db-snapshot.js';
import { createProject, createUser, json, type TestUser } from '../../helpers/factories.js';

let db: TestDatabase;
/** Two instances on one database: the key is claimed in PostgreSQL, not in a process. */
let first: RunningApp;
let second: RunningApp;
let user: TestUser;

beforeAll(async () => {
  db = await createTestDatabase();
  [first, second] = await Promise.all([startApp({ DATABASE_URL: db.url }), startApp({ DATABASE_URL: db.url })]);
  user = await createUser(first, 'Retrier');
});

afterAll(async () => {
  await Promise.all([first?.close(), second?.close()]);
  await db?.drop();
});

function keyed(key: string, body: unknown, who: TestUser = user): RequestInit {
  const init = json(who, body);
  return { ...init, headers: { ...(init.headers as Record<string, string>), 'idempotency-key': key } };
}

interface Answer {
  status: number;
  replayed: string | null;
  body: string;
}

async function send(server: RunningApp, path: string, init: RequestInit): Promise<Answer> {
  const res = await server.request(path, init);
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: await res.text() };
}

async function count(sqlText: string, values: unknown[]): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db.url, `select count(*)::int as n from ${sqlText}`, values);
  return row?.n ?? -1;
}

describe('POST with Idempotency-Key (docs/contract.md §12)', () => {
  it('when 50 identical POSTs race with one key on two instances, creates one project; every other answer is the first, byte for byte, replayed (after 409s while it ran)', async () => {
    const key = randomUUID();
    const name = `Once ${key}`;
    const init = keyed(key, { name });
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => send(i % 2 === 0 ? first : second, '/api/v1/projects', init)));
    const originals = answers.filter((a) => a.status === 201 && a.replayed === null);
    expect(originals).toHaveLength(1);
    const original = originals[0] as Answer;
    for (const a of answers) expect([201, 409]).toContain(a.status);
    // Each 409 retried (as a client would) until it gets the kept response.
    const settled = await Promise.all(
      answers.map(async (a, i) => {
        let answer = a;
        for (let attempt = 0; answer.status === 409 && attempt < 100; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          answer = await send(i % 2 === 0 ? first : second, '/api/v1/projects', init);
        }
        return answer;
      }),
    );
    for (const a of settled.filter((s) => s !== original)) {
      expect(a).toEqual({ status: 201, replayed: 'true', body: original.body });
    }
    expect(await count('projects where name = $1', [name])).toBe(1);
    const { id } = JSON.parse(original.body) as { id: string };
    expect(await count(`audit_log where project_id = $1 and action = 'project.create'`, [id])).toBe(1);
  });

  it('when the same key comes with another body or another path, answers 422 and writes nothing', async () => {
    const key = randomUUID();
    const created = await send(first, '/api/v1/projects', keyed(key, { name: 'Original' }));
    expect(created.status).toBe(201);
    const { id } = JSON.parse(created.body) as { id: string };
    const before = await snapshot(db.url);
    const otherBody = await send(second, '/api/v1/projects', keyed(key, { name: 'Changed' }));
    expect(otherBody.status).toBe(422);
    expect(JSON.parse(otherBody.body)).toMatchObject({ error: 'validation_error', status_code: 422 });
    const otherPath = await send(first, `/api/v1/projects/${id}/operations`, keyed(key, { name: 'Original' }));
    expect(otherPath.status).toBe(422);
    expect(await snapshot(db.url)).toEqual(before);
  });

  it('when the same JSON comes in another key order, replays (the body is compared as parsed)', async () => {
    const key = randomUUID();
    const a = await send(first, '/api/v1/projects', { ...keyed(key, {}), body: '{"name":"Order","language":"fr"}' });
    const b = await send(second, '/api/v1/projects', { ...keyed(key, {}), body: '{ "language": "fr", "name": "Order" }' });
    expect(a.status).toBe(201);
    expect(b).toEqual({ status: 201, replayed: 'true', body: a.body });
  });

  it.each([
    ['empty', ''],
    ['longer than 255', 'k'.repeat(256)],
    ['with a space', 'two words'],
    ['with a non-ASCII character', 'clé'],
  ])('when the key is %s, answers 400 and writes nothing', async (_name, key) => {
    const before = await snapshot(db.url);
    const res = await send(first, '/api/v1/projects', keyed(key, { name: 'Bad key' }));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'bad_request' });
    expect(await snapshot(db.url)).toEqual(before);
  });

  it('when the key is 255 visible characters, accepts it', async () => {
    const key = `${'~'.repeat(200)}${randomUUID().replaceAll('-', '')}`.slice(0, 255);
    expect((await send(first, '/api/v1/projects', keyed(key, { name: 'Long key' }))).status).toBe(201);
  });

  it('when the first request failed (422), keeps nothing: the key runs afresh with a corrected body', async () => {
    const key = randomUUID();
    const invalid = await send(first, '/api/v1/projects', keyed(key, { name: '' }));
    expect(invalid.status).toBe(422);
    const fixed = await send(second, '/api/v1/projects', keyed(key, { name: 'Fixed' }));
    expect(fixed).toMatchObject({ status: 201, replayed: null });
  });

  it('when another user sends the same key, it is their own key: a new project, not a replay', async () => {
    const key = randomUUID();
    const other = await createUser(first, 'Other');
    const mine = await send(first, '/api/v1/projects', keyed(key, { name: 'Shared key' }));
    const theirs = await send(first, '/api/v1/projects', keyed(key, { name: 'Shared key' }, other));
    expect(mine.status).toBe(201);
    expect(theirs).toMatchObject({ status: 201, replayed: null });
    expect(JSON.parse(theirs.body).id).not.toBe(JSON.parse(mine.body).id);
  });

  it('when a new document version is replayed, its ETag comes back too and no second version is written', async () => {
    const project = await createProject(first, user, 'Versions');
    const key = randomUUID();
    const path = `/api/v1/projects/${project.id}/documents/about/versions`;
    const one = await first.request(path, keyed(key, { content: '# One' }));
    const again = await second.request(path, keyed(key, { content: '# One' }));
    expect(one.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('etag')).toBe(one.headers.get('etag'));
    expect(await again.text()).toBe(await one.text());
    expect(await count('document_versions where project_id = $1', [project.id])).toBe(1);
    expect(await count(`audit_log where project_id = $1 and action = 'document_version.create'`, [project.id])).toBe(1);
  });

  it('when a key is older than 24 h, the sweep removes it and the key runs afresh', async () => {
    const key = randomUUID();
    const firstRun = await send(first, '/api/v1/projects', keyed(key, { name: 'Yesterday' }));
    expect(firstRun.status).toBe(201);
    await queryRows(db.url, `update idempotency_keys set created_at = now() - interval '25 hours' where key = $1`, [key]);
    expect(await first.app.services.idempotencyKeys.sweep()).toBeGreaterThanOrEqual(1);
    expect(await count('idempotency_keys where key = $1', [key])).toBe(0);
    const later = await send(second, '/api/v1/projects', keyed(key, { name: 'Yesterday' }));
    expect(later).toMatchObject({ status: 201, replayed: null });
  });

  it('when GET or PATCH carries a key, ignores it (keys are for POST)', async () => {
    const project = await createProject(first, user, 'Patch');
    const init = { ...keyed('same', { current_step: 2 }), method: 'PATCH' };
    expect((await first.request(`/api/v1/projects/${project.id}`, init)).status).toBe(200);
    expect(await count('idempotency_keys where key = $1', ['same'])).toBe(0);
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { addMember, createProject, createUser, json, type TestUser } from '../../helpers/factories.js';
import { until } from '../../helpers/wait.js';

/*
 * Races between a write that has passed the access guard and a change of the caller's access
 * committed meanwhile (issue 14 item 9). The interleavings are forced: the test's own
 * connection holds the rows the writes need, lets them queue behind it (seen in
 * pg_stat_activity), changes access, and only then lets them go.
 */
let db: TestDatabase;
let server: RunningApp;
let sqlClient: pg.Client;
/** A second connection to watch the first's effects: pg_stat_activity is read once per transaction. */
let watcher: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url });
  sqlClient = new pg.Client({ connectionString: db.url });
  await sqlClient.connect();
  watcher = new pg.Client({ connectionString: db.url });
  await watcher.connect();
});

afterAll(async () => {
  await sqlClient?.end();
  await watcher?.end();
  await server?.close();
  await db?.drop();
});

/** Until `n` backends of the app wait on a lock (the writes have passed the guard and queued). */
async function writesWaiting(n: number): Promise<void> {
  await until(async () => {
    const { rows } = await watcher.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and state = 'active'`,
    );
    return (rows[0]?.n ?? 0) >= n;
  }, 10_000);
}

async function roles(projectId: string): Promise<Record<string, string>> {
  const { rows } = await sqlClient.query<{ user_id: string; role: string }>(
    'select user_id, role from project_members where project_id = $1',
    [projectId],
  );
  return Object.fromEntries(rows.map((r) => [r.user_id, r.role]));
}

const setRole = (by: TestUser, projectId: string, who: TestUser, role: string) =>
  server.request(`/api/v1/projects/${projectId}/members/${who.id}`, json(by, { role }, 'PUT'));

async function threeOwners(): Promise<{ a: TestUser; b: TestUser; c: TestUser; projectId: string }> {
  const [a, b, c] = await Promise.all([createUser(server, 'A'), createUser(server, 'B'), createUser(server, 'C')]);
  const project = await createProject(server, a, 'Three owners');
  await addMember(server, a, project.id, b, 'owner');
  await addMember(server, a, project.id, c, 'owner');
  return { a, b, c, projectId: project.id };
}

describe('membership changes by owners at once', () => {
  it('when "A demotes B" commits while "B demotes C" waits, the second finds B no longer owner: 403, and C stays owner', async () => {
    const { a, b, c, projectId } = await threeOwners();
    await sqlClient.query('begin');
    await sqlClient.query('select 1 from project_members where project_id = $1 order by user_id for update', [projectId]);
    const first = setRole(a, projectId, b, 'editor');
    await writesWaiting(1);
    const second = setRole(b, projectId, c, 'editor');
    await writesWaiting(2);
    await sqlClient.query('commit');

    expect((await first).status).toBe(200);
    const refused = await second;
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'forbidden', message: 'This action requires the owner role in the project' });
    expect(await roles(projectId)).toEqual({ [a.id]: 'owner', [b.id]: 'editor', [c.id]: 'owner' });
  });

  it('when two owners demote each other at once, 15 times over, exactly one succeeds each time and the loser is the one demoted', async () => {
    for (let i = 0; i < 15; i++) {
      const { a, b, projectId } = await threeOwners();
      const [ab, ba] = await Promise.all([setRole(a, projectId, b, 'editor'), setRole(b, projectId, a, 'editor')]);
      const statuses = [ab.status, ba.status];
      expect(statuses.sort(), `round ${i}`).toEqual([200, 403]);
      const winner = ab.status === 200 ? a : b;
      const loser = winner === a ? b : a;
      const now = await roles(projectId);
      expect(now[winner.id], `round ${i}`).toBe('owner');
      expect(now[loser.id], `round ${i}`).toBe('editor');
    }
  });

  it('when two owners remove each other at once, 10 times over, exactly one succeeds each time and the other keeps their seat', async () => {
    for (let i = 0; i < 10; i++) {
      const { a, b, projectId } = await threeOwners();
      const remove = (by: TestUser, who: TestUser) =>
        server.request(`/api/v1/projects/${projectId}/members/${who.id}`, { method: 'DELETE', headers: by.auth });
      const [ab, ba] = await Promise.all([remove(a, b), remove(b, a)]);
      expect([ab.status, ba.status].sort(), `round ${i}`).toEqual([204, 403]);
      const now = await roles(projectId);
      const winner = ab.status === 204 ? a : b;
      expect(now[winner.id], `round ${i}`).toBe('owner');
      expect(now[winner === a ? b.id : a.id], `round ${i}`).toBeUndefined();
    }
  });
});

describe('writes into a project deleted while they wait', () => {
  it('when the project is deleted after the guard let them in, every write answers 403 like a later request, and nothing is written', async () => {
    const owner = await createUser(server, 'Owner');
    const editor = await createUser(server, 'Editor');
    const newcomer = await createUser(server, 'Newcomer');
    const project = await createProject(server, owner, 'Doomed');
    await addMember(server, owner, project.id, editor, 'editor');
    const base = `/api/v1/projects/${project.id}`;

    await sqlClient.query('begin');
    await sqlClient.query('select 1 from projects where id = $1 for update', [project.id]);
    const writes = [
      server.request(`${base}/documents/about/versions`, json(editor, { content: 'v1' })),
      server.request(`${base}/documents/about/versions`, json(editor, { content: 'v1 again' })),
      server.request(`${base}/documents/specs/versions`, json(editor, { content: 'specs' })),
      server.request(base, json(editor, { name: 'Renamed' }, 'PATCH')),
      server.request(`${base}/members/${newcomer.id}`, json(owner, { role: 'viewer' }, 'PUT')),
      server.request(base, { method: 'DELETE', headers: owner.auth }),
    ];
    await writesWaiting(writes.length);
    await sqlClient.query('update projects set is_deleted = true, deleted_at = now() where id = $1', [project.id]);
    await sqlClient.query('commit');

    const answers = await Promise.all(writes);
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ error: string; message: string }>;
    expect(answers.map((r) => r.status)).toEqual(Array(writes.length).fill(403));
    expect(bodies.map((b) => b.message)).toEqual(Array(writes.length).fill(`You do not have access to project ${project.id}`));
    // What a later request gets, for comparison: the same answer.
    expect((await server.request(`${base}/documents/about/versions`, json(editor, { content: 'late' }))).status).toBe(403);

    const versions = await sqlClient.query('select 1 from document_versions where project_id = $1', [project.id]);
    expect(versions.rowCount).toBe(0);
    const row = await sqlClient.query<{ name: string }>('select name from projects where id = $1', [project.id]);
    expect(row.rows[0]?.name).toBe('Doomed');
    expect(Object.keys(await roles(project.id)).sort()).toEqual([owner.id, editor.id].sort());
  });

  it('when an editor is demoted to viewer while their version and their rename wait, both are refused (403) and nothing is written', async () => {
    const owner = await createUser(server, 'Owner');
    const editor = await createUser(server, 'Editor');
    const project = await createProject(server, owner, 'Demotion');
    await addMember(server, owner, project.id, editor, 'editor');

    await sqlClient.query('begin');
    await sqlClient.query('select 1 from projects where id = $1 for update', [project.id]);
    const writes = [
      server.request(`/api/v1/projects/${project.id}/documents/about/versions`, json(editor, { content: 'v1' })),
      server.request(`/api/v1/projects/${project.id}`, json(editor, { name: 'Renamed' }, 'PATCH')),
    ];
    await writesWaiting(writes.length);
    await sqlClient.query(`update project_members set role = 'viewer' where project_id = $1 and user_id = $2`, [project.id, editor.id]);
    await sqlClient.query('commit');

    for (const res of await Promise.all(writes)) {
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ message: 'This action requires the editor role in the project' });
    }
    expect((await sqlClient.query('select 1 from document_versions where project_id = $1', [project.id])).rowCount).toBe(0);
    expect((await sqlClient.query('select name from projects where id = $1', [project.id])).rows[0]).toEqual({ name: 'Demotion' });
  });
});

import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { queryRows, snapshot } from '../../helpers/db-snapshot.js';
import { addMember, createProject, createUser, json, type TestUser } from '../../helpers/factories.js';

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url });
  owner = await createUser(server, 'Owner');
});

async function body<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

describe('projects', () => {
  it('POST creates a project owned by the caller, with language en by default', async () => {
    const res = await server.request('/api/v1/projects', json(owner, { name: '  Bike sharing  ' }));
    expect(res.status).toBe(201);
    const p = await body(res);
    expect(p).toMatchObject({
      name: 'Bike sharing',
      language: 'en',
      status: 'draft',
      current_step: 1,
      created_by: owner.id,
      role: 'owner',
    });
    expect(p.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });

  it('GET /projects lists only the caller’s projects, paginated, filtered by status', async () => {
    const alice = await createUser(server, 'Alice');
    const bob = await createUser(server, 'Bob');
    for (let i = 0; i < 3; i++) await createProject(server, alice, `A${i}`);
    const bobs = await createProject(server, bob, 'B0');
    const page1 = await body<{ items: Array<{ id: string; name: string }>; total: number; limit: number; offset: number }>(
      await server.request('/api/v1/projects?limit=2&offset=0', { headers: alice.auth }),
    );
    expect(page1).toMatchObject({ total: 3, limit: 2, offset: 0 });
    expect(page1.items.map((p) => p.name)).toEqual(['A2', 'A1']);
    const page2 = await body<{ items: Array<{ id: string }> }>(
      await server.request('/api/v1/projects?limit=2&offset=2', { headers: alice.auth }),
    );
    expect(page2.items).toHaveLength(1);
    expect([...page1.items, ...page2.items].map((p) => p.id)).not.toContain(bobs.id);
    const active = await body<{ total: number }>(await server.request('/api/v1/projects?status=active', { headers: alice.auth }));
    expect(active.total).toBe(0);
  });

  it('PATCH changes name, status and step; language is immutable (422)', async () => {
    const p = await createProject(server, owner, 'Patch me', 'de');
    const res = await server.request(
      `/api/v1/projects/${p.id}`,
      json(owner, { name: 'Patched', status: 'active', current_step: 3 }, 'PATCH'),
    );
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({ name: 'Patched', status: 'active', current_step: 3, language: 'de' });
    const lang = await server.request(`/api/v1/projects/${p.id}`, json(owner, { language: 'fr' }, 'PATCH'));
    expect(lang.status).toBe(422);
  });

  it('DELETE soft-deletes: the project and its documents vanish from every read and list', async () => {
    const p = await createProject(server, owner, 'Doomed');
    await server.request(`/api/v1/projects/${p.id}/documents/about/versions`, json(owner, { content: 'x' }));
    const del = await server.request(`/api/v1/projects/${p.id}`, { method: 'DELETE', headers: owner.auth });
    expect(del.status).toBe(204);
    expect((await server.request(`/api/v1/projects/${p.id}`, { headers: owner.auth })).status).toBe(403);
    expect((await server.request(`/api/v1/projects/${p.id}/documents`, { headers: owner.auth })).status).toBe(403);
    const list = await body<{ items: Array<{ id: string }> }>(await server.request('/api/v1/projects?limit=100', { headers: owner.auth }));
    expect(list.items.map((x) => x.id)).not.toContain(p.id);
    const [row] = await queryRows<{ is_deleted: boolean; deleted_at: Date | null }>(
      db.url,
      'select is_deleted, deleted_at from projects where id = $1',
      [p.id],
    );
    expect(row?.is_deleted).toBe(true);
    expect(row?.deleted_at).toBeInstanceOf(Date);
  });
});

describe('members', () => {
  it('the owner invites by user id, changes roles; the last owner cannot be demoted or removed (409)', async () => {
    const p = await createProject(server, owner, 'Team');
    const carol = await createUser(server, 'Carol');
    await addMember(server, owner, p.id, carol, 'editor');
    const members = await body<{ items: Array<{ user_id: string; role: string }> }>(
      await server.request(`/api/v1/projects/${p.id}/members`, { headers: carol.auth }),
    );
    expect(members.items.map((m) => [m.user_id, m.role])).toEqual([
      [owner.id, 'owner'],
      [carol.id, 'editor'],
    ]);
    const demote = await server.request(`/api/v1/projects/${p.id}/members/${owner.id}`, json(owner, { role: 'viewer' }, 'PUT'));
    expect(demote.status).toBe(409);
    const remove = await server.request(`/api/v1/projects/${p.id}/members/${owner.id}`, { method: 'DELETE', headers: owner.auth });
    expect(remove.status).toBe(409);
    // With a second owner, the first can step down.
    await addMember(server, owner, p.id, carol, 'owner');
    const stepDown = await server.request(`/api/v1/projects/${p.id}/members/${owner.id}`, json(owner, { role: 'editor' }, 'PUT'));
    expect(stepDown.status).toBe(200);
    const gone = await server.request(`/api/v1/projects/${p.id}/members/${carol.id}`, { method: 'DELETE', headers: carol.auth });
    expect(gone.status).toBe(409);
  });

  it('inviting an unknown user is 404, removing a non-member is 404', async () => {
    const p = await createProject(server, owner, 'Solo');
    expect((await server.request(`/api/v1/projects/${p.id}/members/${randomUUID()}`, json(owner, { role: 'viewer' }, 'PUT'))).status).toBe(
      404,
    );
    expect(
      (await server.request(`/api/v1/projects/${p.id}/members/${randomUUID()}`, { method: 'DELETE', headers: owner.auth })).status,
    ).toBe(404);
  });

  it('two owners demoting each other at once leave at least one owner', async () => {
    const p = await createProject(server, owner, 'Race');
    const dave = await createUser(server, 'Dave');
    await addMember(server, owner, p.id, dave, 'owner');
    const [a, b] = await Promise.all([
      server.request(`/api/v1/projects/${p.id}/members/${dave.id}`, json(owner, { role: 'viewer' }, 'PUT')),
      server.request(`/api/v1/projects/${p.id}/members/${owner.id}`, json(dave, { role: 'viewer' }, 'PUT')),
    ]);
    // One wins; the other is refused: 409 if it got to the membership lock second, or 403 if
    // the winner had already demoted it before its access check.
    const statuses = [a.status, b.status].sort((x, y) => x - y);
    expect(statuses[0]).toBe(200);
    expect([403, 409]).toContain(statuses[1]);
    const members = (await (await server.request(`/api/v1/projects/${p.id}/members`, { headers: owner.auth })).json()) as {
      items: Array<{ role: string }>;
    };
    expect(members.items.filter((m) => m.role === 'owner')).toHaveLength(1);
  });
});

describe('documents', () => {
  it('20 concurrent writes on one document type get versions exactly 1..20', async () => {
    const p = await createProject(server, owner, 'Concurrent');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        server.request(`/api/v1/projects/${p.id}/documents/specs/versions`, json(owner, { content: `v${i}` })),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    const versions = await Promise.all(results.map(async (r) => (await body<{ version: number }>(r)).version));
    expect(versions.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('lists newest first without content, reads one version or latest, and the latest of each type', async () => {
    const p = await createProject(server, owner, 'Docs');
    const base = `/api/v1/projects/${p.id}/documents`;
    for (const c of ['one', 'two', 'three'])
      await server.request(`${base}/about/versions`, json(owner, { content: c, metadata: { Author: 'me' } }));
    await server.request(`${base}/plan/versions`, json(owner, { content: 'plan' }));
    const list = await body<{ items: Array<Record<string, unknown>>; total: number }>(
      await server.request(`${base}/about/versions?limit=2`, { headers: owner.auth }),
    );
    expect(list.total).toBe(3);
    expect(list.items.map((v) => v.version)).toEqual([3, 2]);
    expect(list.items[0]).not.toHaveProperty('content');
    expect(list.items[0]?.metadata).toEqual({ Author: 'me' });
    expect(await body(await server.request(`${base}/about/versions/2`, { headers: owner.auth }))).toMatchObject({
      version: 2,
      content: 'two',
    });
    expect(await body(await server.request(`${base}/about/versions/latest`, { headers: owner.auth }))).toMatchObject({
      version: 3,
      content: 'three',
    });
    expect((await server.request(`${base}/about/versions/9`, { headers: owner.auth })).status).toBe(404);
    expect((await server.request(`${base}/architecture/versions/latest`, { headers: owner.auth })).status).toBe(404);
    const latest = await body<{ items: Array<{ document_type: string; version: number }> }>(
      await server.request(base, { headers: owner.auth }),
    );
    expect(latest.items.map((d) => [d.document_type, d.version])).toEqual([
      ['about', 3],
      ['plan', 1],
    ]);
  });
});

describe('bad input changes nothing (422 with details.errors)', () => {
  const cases: Array<[string, string, (pid: string) => string, unknown]> = [
    ['project: name of the wrong type', 'POST', () => '/api/v1/projects', { name: 42 }],
    ['project: empty name', 'POST', () => '/api/v1/projects', { name: '' }],
    ['project: blank name', 'POST', () => '/api/v1/projects', { name: '   ' }],
    ['project: name too long', 'POST', () => '/api/v1/projects', { name: 'x'.repeat(201) }],
    ['project: unknown language', 'POST', () => '/api/v1/projects', { name: 'x', language: 'zz' }],
    ['project: unknown field', 'POST', () => '/api/v1/projects', { name: 'x', owner: 'me' }],
    ['project: missing name', 'POST', () => '/api/v1/projects', {}],
    ['patch: empty body', 'PATCH', (pid) => `/api/v1/projects/${pid}`, {}],
    ['patch: bad status', 'PATCH', (pid) => `/api/v1/projects/${pid}`, { status: 'done' }],
    ['patch: step 0', 'PATCH', (pid) => `/api/v1/projects/${pid}`, { current_step: 0 }],
    ['patch: step 5', 'PATCH', (pid) => `/api/v1/projects/${pid}`, { current_step: 5 }],
    ['patch: step as string', 'PATCH', (pid) => `/api/v1/projects/${pid}`, { current_step: '2' }],
    ['member: bad role', 'PUT', (pid) => `/api/v1/projects/${pid}/members/${randomUUID()}`, { role: 'admin' }],
    ['member: malformed user id', 'PUT', (pid) => `/api/v1/projects/${pid}/members/nope`, { role: 'viewer' }],
    ['document: unknown type', 'POST', (pid) => `/api/v1/projects/${pid}/documents/novel/versions`, { content: 'x' }],
    ['document: content of the wrong type', 'POST', (pid) => `/api/v1/projects/${pid}/documents/about/versions`, { content: ['x'] }],
    [
      'document: metadata not an object',
      'POST',
      (pid) => `/api/v1/projects/${pid}/documents/about/versions`,
      { content: 'x', metadata: 'm' },
    ],
    ['document: missing content', 'POST', (pid) => `/api/v1/projects/${pid}/documents/about/versions`, { metadata: {} }],
    ['list: limit 0', 'GET', () => '/api/v1/projects?limit=0', undefined],
    ['list: limit 101', 'GET', () => '/api/v1/projects?limit=101', undefined],
    ['list: negative offset', 'GET', () => '/api/v1/projects?offset=-1', undefined],
    ['list: limit not a number', 'GET', () => '/api/v1/projects?limit=ten', undefined],
    ['versions: limit 101', 'GET', (pid) => `/api/v1/projects/${pid}/documents/about/versions?limit=101`, undefined],
    ['version: not a number', 'GET', (pid) => `/api/v1/projects/${pid}/documents/about/versions/first`, undefined],
    ['version: zero', 'GET', (pid) => `/api/v1/projects/${pid}/documents/about/versions/0`, undefined],
  ];

  it.each(cases)('%s', async (_what, method, path, payload) => {
    const p = await createProject(server, owner, 'Target');
    const before = await snapshot(db.url);
    const init: RequestInit = payload === undefined ? { method, headers: owner.auth } : json(owner, payload, method);
    const res = await server.request(path(p.id), init);
    expect(res.status).toBe(422);
    const b = await body<{ error: string; details: { errors: Array<{ path: string; message: string }> } }>(res);
    expect(b.error).toBe('validation_error');
    expect(b.details.errors.length).toBeGreaterThan(0);
    expect(await snapshot(db.url)).toEqual(before);
  });

  it('a body over 1 MiB is 413 and writes nothing', async () => {
    const p = await createProject(server, owner, 'Big');
    const before = await snapshot(db.url);
    const res = await server.request(`/api/v1/projects/${p.id}/documents/about/versions`, json(owner, { content: 'x'.repeat(1_100_000) }));
    expect(res.status).toBe(413);
    expect(await snapshot(db.url)).toEqual(before);
  });
});

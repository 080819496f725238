import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { queryRows, snapshot } from '../../helpers/db-snapshot.js';
import { addMember, createProject, createUser, json, type TestUser } from '../../helpers/factories.js';

/** docs/contract.md §3, written out here (not imported). */
const SECURITY_HEADERS = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-xss-protection': '0',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};
const ORIGIN = 'http://localhost:5200';

let db: TestDatabase;
let first: RunningApp;
let second: RunningApp;
let owner: TestUser;

beforeAll(async () => {
  db = await createTestDatabase();
  const env = { DATABASE_URL: db.url, CORS_ORIGINS: ORIGIN };
  [first, second] = await Promise.all([startApp(env), startApp(env)]);
  owner = await createUser(first, 'Owner');
});

afterAll(async () => {
  await Promise.all([first?.close(), second?.close()]);
  await db?.drop();
});

function withHeaders(init: RequestInit, headers: Record<string, string>): RequestInit {
  return { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } };
}

async function etagOf(server: RunningApp, path: string, user = owner): Promise<string> {
  const res = await server.request(path, { headers: user.auth });
  expect(res.status).toBe(200);
  const etag = res.headers.get('etag');
  expect(etag).toMatch(/^"[^"]+"$/);
  return etag as string;
}

describe('ETag and If-None-Match on reads', () => {
  it('when a project is read with its current ETag, answers 304 with no body, the ETag and the §3 headers; after a write, 200 with a new ETag', async () => {
    const project = await createProject(first, owner, 'Cached');
    const path = `/api/v1/projects/${project.id}`;
    const etag = await etagOf(first, path);
    const cached = await second.request(path, {
      headers: { ...owner.auth, 'if-none-match': etag, origin: ORIGIN, 'x-correlation-id': 'etag-304' },
    });
    expect(cached.status).toBe(304);
    expect(await cached.text()).toBe('');
    expect(cached.headers.get('etag')).toBe(etag);
    expect(cached.headers.get('x-correlation-id')).toBe('etag-304');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(cached.headers.get(name), name).toBe(value);
    expect(cached.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(cached.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('etag');

    expect((await first.request(path, json(owner, { name: 'Renamed' }, 'PATCH'))).status).toBe(200);
    const fresh = await first.request(path, { headers: { ...owner.auth, 'if-none-match': etag } });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('etag')).not.toBe(etag);
  });

  it('when another member reads the same project, their ETag differs (the role is part of the representation)', async () => {
    const project = await createProject(first, owner, 'Roles');
    const viewer = await createUser(first, 'Viewer');
    await addMember(first, owner, project.id, viewer, 'viewer');
    const path = `/api/v1/projects/${project.id}`;
    const mine = await etagOf(first, path);
    const theirs = await etagOf(first, path, viewer);
    expect(theirs).not.toBe(mine);
    expect((await first.request(path, { headers: { ...viewer.auth, 'if-none-match': mine } })).status).toBe(200);
  });

  it('when a document version is read with its ETag (or W/ of it, or in a list), answers 304', async () => {
    const project = await createProject(first, owner, 'Doc cache');
    const created = await first.request(`/api/v1/projects/${project.id}/documents/plan/versions`, json(owner, { content: 'v1' }));
    const etag = created.headers.get('etag') as string;
    for (const path of ['versions/1', 'versions/latest']) {
      const url = `/api/v1/projects/${project.id}/documents/plan/${path}`;
      expect(await etagOf(first, url)).toBe(etag);
      for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        expect((await first.request(url, { headers: { ...owner.auth, 'if-none-match': header } })).status, header).toBe(304);
      }
      expect((await first.request(url, { headers: { ...owner.auth, 'if-none-match': '"other"' } })).status).toBe(200);
    }
  });
});

describe('If-Match on writes', () => {
  it('when a project PATCH carries a stale ETag, answers 412 and writes nothing; the current one → 200 with the new ETag', async () => {
    const project = await createProject(first, owner, 'Guarded');
    const path = `/api/v1/projects/${project.id}`;
    const stale = await etagOf(first, path);
    const current = await first.request(path, withHeaders(json(owner, { status: 'active' }, 'PATCH'), { 'if-match': stale }));
    expect(current.status).toBe(200);
    const next = current.headers.get('etag');
    expect(next).not.toBe(stale);
    expect(next).toBe(await etagOf(first, path));
    const before = await snapshot(db.url);
    const res = await second.request(path, withHeaders(json(owner, { name: 'Overwrite' }, 'PATCH'), { 'if-match': stale }));
    expect(res.status).toBe(412);
    expect(await res.json()).toMatchObject({ error: 'precondition_failed', status_code: 412 });
    expect(await snapshot(db.url)).toEqual(before);
  });

  it('when two writers PATCH a project with the same ETag at once, one gets 200 and the other 412', async () => {
    const project = await createProject(first, owner, 'Two writers');
    const path = `/api/v1/projects/${project.id}`;
    const etag = await etagOf(first, path);
    const [a, b] = await Promise.all(
      [first, second].map((s, i) => s.request(path, withHeaders(json(owner, { name: `Writer ${i}` }, 'PATCH'), { 'if-match': etag }))),
    );
    expect([a?.status, b?.status].sort()).toEqual([200, 412]);
    const winner = a?.status === 200 ? 'Writer 0' : 'Writer 1';
    expect(((await (await first.request(path, { headers: owner.auth })).json()) as { name: string }).name).toBe(winner);
  });

  it('when two writers add a document version from the same ETag, one gets 201 and the other 412, and the content is the winner’s', async () => {
    const project = await createProject(first, owner, 'Doc race');
    const base = `/api/v1/projects/${project.id}/documents/specs/versions`;
    expect((await first.request(base, json(owner, { content: 'base' }))).status).toBe(201);
    const etag = await etagOf(first, `${base}/latest`);
    const [a, b] = await Promise.all(
      ['Alice wrote this', 'Bob wrote this'].map((content, i) =>
        (i === 0 ? first : second).request(base, withHeaders(json(owner, { content }), { 'if-match': etag })),
      ),
    );
    expect([a?.status, b?.status].sort()).toEqual([201, 412]);
    const winner = a?.status === 201 ? 'Alice wrote this' : 'Bob wrote this';
    const latest = (await (await first.request(`${base}/latest`, { headers: owner.auth })).json()) as { content: string; version: number };
    expect(latest).toMatchObject({ content: winner, version: 2 });
  });

  it('when If-Match names a version while the document has none, or is a weak tag, answers 412; "*" needs an existing version', async () => {
    const project = await createProject(first, owner, 'Empty doc');
    const base = `/api/v1/projects/${project.id}/documents/architecture/versions`;
    expect((await first.request(base, withHeaders(json(owner, { content: 'x' }), { 'if-match': '"nope"' }))).status).toBe(412);
    expect((await first.request(base, withHeaders(json(owner, { content: 'x' }), { 'if-match': '*' }))).status).toBe(412);
    const created = await first.request(base, json(owner, { content: 'x' }));
    const etag = created.headers.get('etag') as string;
    expect((await first.request(base, withHeaders(json(owner, { content: 'y' }), { 'if-match': `W/${etag}` }))).status).toBe(412);
    expect((await first.request(base, withHeaders(json(owner, { content: 'y' }), { 'if-match': '*' }))).status).toBe(201);
    const [row] = await queryRows<{ n: number }>(db.url, 'select count(*)::int as n from document_versions where project_id = $1', [
      project.id,
    ]);
    expect(row?.n).toBe(2);
  });

  it('when 3 writers race for 1,000 increments of a counter document with If-Match (re-reading on 412), no update is lost', async () => {
    const project = await createProject(first, owner, 'Counter');
    const base = `/api/v1/projects/${project.id}/documents/about/versions`;
    expect((await first.request(base, json(owner, { content: '0' }))).status).toBe(201);
    const TOTAL = 1000;
    let done = 0;
    let refused = 0;
    const writer = async (server: RunningApp) => {
      while (done < TOTAL) {
        const read = await server.request(`${base}/latest`, { headers: owner.auth });
        const etag = read.headers.get('etag') as string;
        const value = Number(((await read.json()) as { content: string }).content);
        if (done >= TOTAL) return;
        const res = await server.request(base, withHeaders(json(owner, { content: String(value + 1) }), { 'if-match': etag }));
        if (res.status === 201) done++;
        else if (res.status === 412) refused++;
        else throw new Error(`unexpected ${res.status}: ${await res.text()}`);
        await res.arrayBuffer().catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: 3 }, (_, i) => writer(i % 2 === 0 ? first : second)));
    const latest = (await (await first.request(`${base}/latest`, { headers: owner.auth })).json()) as { content: string; version: number };
    // Every acknowledged increment is in the value: 0 lost updates.
    expect(Number(latest.content)).toBe(done);
    expect(latest.version).toBe(done + 1);
    expect(done).toBeGreaterThanOrEqual(TOTAL);
    expect(refused).toBeGreaterThan(0);
  }, 240_000);
});

describe('CORS for safe writes (docs/contract.md §3)', () => {
  it('when a browser preflights a conditional, idempotent POST, allows If-Match, If-None-Match and Idempotency-Key', async () => {
    const res = await first.request('/api/v1/projects', {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'if-match, if-none-match, idempotency-key, content-type, authorization',
      },
    });
    expect(res.status).toBe(204);
    const allowed = res.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/) ?? [];
    for (const name of ['if-match', 'if-none-match', 'idempotency-key']) expect(allowed).toContain(name);
  });

  it('when a browser reads a replayed POST, ETag and Idempotent-Replayed are exposed', async () => {
    const res = await first.request('/api/v1/projects', withHeaders(json(owner, { name: 'Exposed' }), { origin: ORIGIN }));
    const exposed = res.headers.get('access-control-expose-headers')?.toLowerCase().split(/,\s*/) ?? [];
    expect(exposed).toEqual(expect.arrayContaining(['etag', 'idempotent-replayed', 'x-correlation-id']));
  });
});

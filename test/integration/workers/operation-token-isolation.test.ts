import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { snapshot } from '../../helpers/db-snapshot.js';
import { addMember, createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { fill, type RouteEntry, routesOf, validValue } from '../../helpers/openapi-walk.js';
import { bearer, createOperation, createWorker, type Lease, lease, post, type TestWorker } from '../../helpers/workers.js';

/*
 * docs/contract.md §8: an operation token acts only in its project, at most as editor and never above
 * its creator's current role, only while its lease is current (docs/adr/0020).
 */

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;
let creator: TestUser;
let home: TestProject;
let elsewhere: TestProject;
let worker: TestWorker;
let routes: RouteEntry[];

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url }, { logLevel: 'warn' });
  owner = await createUser(server, 'Owner');
  creator = await createUser(server, 'Creator');
  home = await createProject(server, owner, 'Home');
  elsewhere = await createProject(server, owner, 'Elsewhere secret');
  // The creator is an editor in both: the token is bound to its project, not to the creator's memberships.
  await addMember(server, owner, home.id, creator, 'editor');
  await addMember(server, owner, elsewhere.id, creator, 'editor');
  await server.request(`/api/v1/projects/${elsewhere.id}/documents/about/versions`, json(owner, { content: 'secret' }));
  worker = await createWorker(server, 'isolation');
  routes = routesOf(await (await server.request('/openapi.json')).json());
});

async function leased(kind: string, by = creator, projectId = home.id): Promise<{ opId: string; got: Lease }> {
  const opId = await createOperation(server, by, projectId, kind);
  const got = await lease(server, worker, { kinds: [kind] });
  if (!got) throw new Error('nothing leased');
  return { opId, got };
}

async function call(route: RouteEntry, token: string, projectId: string, operationId: string) {
  const url = fill(route.path, {
    project_id: projectId,
    user_id: owner.id,
    document_type: 'about',
    version: '1',
    operation_id: operationId,
    lease_id: randomUUID(),
    message_id: randomUUID(),
    export_id: randomUUID(),
  });
  const init: RequestInit = { method: route.method, headers: bearer(token) };
  if (route.bodySchema) init.body = JSON.stringify(validValue(route.bodySchema));
  if (route.bodySchema) init.headers = { ...bearer(token), 'content-type': 'application/json' };
  const res = await server.request(url, init);
  return { status: res.status, text: await res.text() };
}

describe('an operation token walked over the route table', () => {
  it('on every route of another project it gets 403 and nothing changes, even where its creator is a member', async () => {
    const { got } = await leased('walk.other');
    const projectRoutes = routes.filter((r) => r.path.includes('{project_id}'));
    expect(projectRoutes.length).toBeGreaterThanOrEqual(12);
    for (const route of projectRoutes) {
      const before = await snapshot(db.url);
      const { status, text } = await call(route, got.token, elsewhere.id, randomUUID());
      expect(status, `${route.method} ${route.path}`).toBe(403);
      expect(text).not.toContain('secret');
      expect(await snapshot(db.url), `${route.method} ${route.path} changed the database`).toEqual(before);
    }
  });

  it('on every route outside a project (its creator’s project list, /auth/me, the worker routes) it gets 403', async () => {
    const { got } = await leased('walk.outside');
    const outside = routes.filter(
      (r) => !r.path.includes('{project_id}') && !/health|dev-login|jwks|exports\/\{export_id\}\/download/.test(r.path),
    );
    expect(outside.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['GET /api/v1/projects', 'POST /api/v1/projects', 'GET /api/v1/auth/me', 'POST /api/v1/worker/leases']),
    );
    for (const route of outside) {
      const before = await snapshot(db.url);
      expect((await call(route, got.token, home.id, got.operation.id)).status, `${route.method} ${route.path}`).toBe(403);
      expect(await snapshot(db.url)).toEqual(before);
    }
  });

  it('in its own project it never acts above editor: owner routes get 403, even when the creator is the owner', async () => {
    const { got } = await leased('walk.owner', owner);
    for (const [method, path, body] of [
      ['DELETE', `/api/v1/projects/${home.id}`, undefined],
      ['PUT', `/api/v1/projects/${home.id}/members/${creator.id}`, { role: 'owner' }],
      ['DELETE', `/api/v1/projects/${home.id}/members/${creator.id}`, undefined],
    ] as const) {
      const res = await server.request(path, body ? post(bearer(got.token), body, method) : { method, headers: bearer(got.token) });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    const doc = await server.request(`/api/v1/projects/${home.id}/documents/plan/versions`, post(bearer(got.token), { content: '# plan' }));
    expect(doc.status).toBe(201);
    expect(((await doc.json()) as { created_by: string }).created_by).toBe(owner.id);
  });

  it('publishes to its own operation only', async () => {
    const { got } = await leased('walk.own');
    const otherOp = await createOperation(server, creator, home.id, 'walk.not-leased');
    const res = await server.request(`/api/v1/projects/${home.id}/operations/${otherOp}/events`, post(bearer(got.token), { type: 'x' }));
    expect(res.status).toBe(403);
  });
});

describe('the creator’s role and the lease bound the token', () => {
  it('when the creator is demoted to viewer mid-run, writes get 403 but reads and publishing to its own operation still work', async () => {
    const demoted = await createUser(server, 'Demoted');
    await addMember(server, owner, home.id, demoted, 'editor');
    const { opId, got } = await leased('role.drop', demoted);
    const write = () => server.request(`/api/v1/projects/${home.id}/documents/specs/versions`, post(bearer(got.token), { content: '# s' }));
    expect((await write()).status).toBe(201);

    await addMember(server, owner, home.id, demoted, 'viewer');
    const before = await snapshot(db.url);
    expect((await write()).status).toBe(403);
    expect(await snapshot(db.url)).toEqual(before);
    expect((await server.request(`/api/v1/projects/${home.id}`, { headers: bearer(got.token) })).status).toBe(200);
    const events = `/api/v1/projects/${home.id}/operations/${opId}/events`;
    expect((await server.request(events, post(bearer(got.token), { type: 'error', data: { error: 'x' }, status: 'failed' }))).status).toBe(
      202,
    );
  });

  it('when its lease has ended, the token dies with it: 401 on reads and writes, 409 on its own events', async () => {
    const { opId, got } = await leased('lease.end');
    const events = `/api/v1/projects/${home.id}/operations/${opId}/events`;
    expect((await server.request(events, post(bearer(got.token), { type: 'done', status: 'completed' }))).status).toBe(202);
    expect((await server.request(`/api/v1/projects/${home.id}`, { headers: bearer(got.token) })).status).toBe(401);
    const write = await server.request(`/api/v1/projects/${home.id}/documents/about/versions`, post(bearer(got.token), { content: 'x' }));
    expect(write.status).toBe(401);
    expect((await server.request(events, post(bearer(got.token), { type: 'late' }))).status).toBe(409);
  });

  it('when a running operation is cancelled, its token still works until its worker ends it', async () => {
    const { opId, got } = await leased('cancel.token');
    expect((await server.request(`/api/v1/projects/${home.id}/operations/${opId}/cancel`, json(owner, {}))).status).toBe(202);
    expect((await server.request(`/api/v1/projects/${home.id}`, { headers: bearer(got.token) })).status).toBe(200);
  });
});

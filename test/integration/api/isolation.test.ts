import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { snapshot } from '../../helpers/db-snapshot.js';
import { addMember, createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { fill, type RouteEntry, routesOf, validValue } from '../../helpers/openapi-walk.js';

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;
let outsider: TestUser;
let project: TestProject;
let projectRoutes: RouteEntry[];

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url });
  owner = await createUser(server, 'Owner');
  outsider = await createUser(server, 'Outsider');
  project = await createProject(server, owner, 'Secret idea');
  await server.request(`/api/v1/projects/${project.id}/documents/about/versions`, json(owner, { content: 'secret' }));
  const doc = await (await server.request('/openapi.json')).json();
  projectRoutes = routesOf(doc).filter((r) => r.path.includes('{project_id}'));
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

async function call(route: RouteEntry, user: TestUser, projectId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = fill(route.path, {
    project_id: projectId,
    user_id: owner.id,
    document_type: 'about',
    version: '1',
    operation_id: randomUUID(),
    message_id: randomUUID(),
    lease_id: randomUUID(),
    export_id: randomUUID(),
  });
  const init: RequestInit = { method: route.method, headers: { ...user.auth } };
  if (route.bodySchema) {
    init.headers = { ...user.auth, 'content-type': 'application/json' };
    init.body = JSON.stringify(validValue(route.bodySchema));
  }
  const res = await server.request(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('project isolation by construction (SEC-002)', () => {
  it('finds the project routes in the app’s own route table', () => {
    // Guards against a walk over nothing: the contract has at least these project routes.
    expect(projectRoutes.length).toBeGreaterThanOrEqual(9);
  });

  it('for every route with a project_id, a non-member gets 403 and nothing changes', async () => {
    for (const route of projectRoutes) {
      const before = await snapshot(db.url);
      const { status, body } = await call(route, outsider, project.id);
      expect(status, `${route.method} ${route.path}`).toBe(403);
      expect(body.error).toBe('forbidden');
      expect(JSON.stringify(body)).not.toContain('Secret idea');
      expect(await snapshot(db.url), `${route.method} ${route.path} changed the database`).toEqual(before);
    }
  });

  it('for every route with a project_id, a project that does not exist gets the identical answer', async () => {
    for (const route of projectRoutes) {
      const missingId = randomUUID();
      const existing = await call(route, outsider, project.id);
      const missing = await call(route, outsider, missingId);
      expect(missing.status, `${route.method} ${route.path}`).toBe(existing.status);
      expect(String(missing.body.message).replace(missingId, 'ID')).toBe(String(existing.body.message).replace(project.id, 'ID'));
      expect(missing.body.details).toEqual(existing.body.details);
    }
  });

  it('for every route with a project_id, no token gets 401 before anything else', async () => {
    for (const route of projectRoutes) {
      const url = fill(route.path, {
        project_id: project.id,
        user_id: owner.id,
        document_type: 'about',
        version: '1',
        operation_id: randomUUID(),
        message_id: randomUUID(),
        lease_id: randomUUID(),
        export_id: randomUUID(),
      });
      const res = await server.request(url, { method: route.method });
      expect(res.status, `${route.method} ${route.path}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('for every route with a project_id, a malformed project id gets 422', async () => {
    for (const route of projectRoutes) {
      const { status, body } = await call(route, outsider, 'not-a-uuid');
      expect(status, `${route.method} ${route.path}`).toBe(422);
      expect(body.error).toBe('validation_error');
    }
  });
});

describe('authentication by construction (SEC-003)', () => {
  const PUBLIC = [
    'GET /api/v1/health',
    'GET /api/v1/health/live',
    'GET /api/v1/health/ready',
    'POST /api/v1/auth/dev-login',
    'GET /.well-known/jwks.json',
    'GET /api/v1/exports/{export_id}/download',
  ];

  it('every route of the route table but the declared public ones answers 401 without a token', async () => {
    const doc = await (await server.request('/openapi.json')).json();
    const all = routesOf(doc);
    expect(all.length).toBeGreaterThan(15);
    const open: string[] = [];
    for (const route of all) {
      const url = fill(route.path, {
        project_id: project.id,
        user_id: owner.id,
        document_type: 'about',
        version: '1',
        operation_id: randomUUID(),
        message_id: randomUUID(),
        export_id: randomUUID(),
        lease_id: randomUUID(),
      });
      const res = await server.request(url, {
        method: route.method,
        ...(route.bodySchema
          ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(validValue(route.bodySchema)) }
          : {}),
      });
      if (res.status !== 401) open.push(`${route.method} ${route.path}`);
    }
    expect(open.sort()).toEqual([...PUBLIC].sort());
  });
});

describe('role matrix', () => {
  it('a viewer can read but not write; an editor can write but not delete the project or manage members', async () => {
    const viewer = await createUser(server, 'Viewer');
    const editor = await createUser(server, 'Editor');
    await addMember(server, owner, project.id, viewer, 'viewer');
    await addMember(server, owner, project.id, editor, 'editor');
    const base = `/api/v1/projects/${project.id}`;

    expect((await server.request(base, { headers: viewer.auth })).status).toBe(200);
    expect((await server.request(`${base}/documents`, { headers: viewer.auth })).status).toBe(200);
    expect((await server.request(`${base}/documents/about/versions`, json(viewer, { content: 'x' }))).status).toBe(403);
    expect((await server.request(base, json(viewer, { name: 'Renamed' }, 'PATCH'))).status).toBe(403);

    expect((await server.request(`${base}/documents/about/versions`, json(editor, { content: 'x' }))).status).toBe(201);
    expect((await server.request(base, json(editor, { status: 'active' }, 'PATCH'))).status).toBe(200);
    expect((await server.request(base, { method: 'DELETE', headers: editor.auth })).status).toBe(403);
    expect((await server.request(`${base}/members/${viewer.id}`, json(editor, { role: 'editor' }, 'PUT'))).status).toBe(403);
    expect((await server.request(`${base}/members/${viewer.id}`, { method: 'DELETE', headers: editor.auth })).status).toBe(403);
  });
});

import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/types.js';
import { AuditLog } from '../../../src/services/audit.service.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { queryRows, snapshot } from '../../helpers/db-snapshot.js';
import { addMember, createProject, createUser, json, type TestUser } from '../../helpers/factories.js';
import { testKysely } from '../../helpers/kysely.js';

interface Entry {
  id: string;
  at: string;
  actor: { user_id: string; worker: string | null };
  action: string;
  target: { type: string; id: string };
  correlation_id: string | null;
  changes: Record<string, unknown>;
}

let db: TestDatabase;
let kysely: Kysely<Database>;
let server: RunningApp;
let owner: TestUser;

beforeAll(async () => {
  db = await createTestDatabase();
  kysely = testKysely(db.url);
  server = await startApp({ DATABASE_URL: db.url });
  owner = await createUser(server, 'Owner');
});

afterAll(async () => {
  await kysely?.destroy();
  await server?.close();
  await db?.drop();
});

async function auditOf(projectId: string, user = owner, query = ''): Promise<{ items: Entry[]; next_before: string | null }> {
  const res = await server.request(`/api/v1/projects/${projectId}/audit${query}`, { headers: user.auth });
  expect(res.status).toBe(200);
  return (await res.json()) as { items: Entry[]; next_before: string | null };
}

function withCorrelation(init: RequestInit, id: string): RequestInit {
  return { ...init, headers: { ...(init.headers as Record<string, string>), 'x-correlation-id': id } };
}

describe('GET /api/v1/projects/:project_id/audit', () => {
  it('when the owner writes, lists one entry per write, newest first, with actor, target, correlation id and changes', async () => {
    const editor = await createUser(server, 'Editor');
    const res = await server.request(
      '/api/v1/projects',
      withCorrelation(json(owner, { name: 'Audited', language: 'de' }), 'audit-create-1'),
    );
    expect(res.status).toBe(201);
    const project = (await res.json()) as { id: string };
    await addMember(server, owner, project.id, editor, 'editor');
    expect((await server.request(`/api/v1/projects/${project.id}`, json(editor, { status: 'active' }, 'PATCH'))).status).toBe(200);
    const version = await server.request(`/api/v1/projects/${project.id}/documents/about/versions`, json(editor, { content: '# Hi' }));
    expect(version.status).toBe(201);
    const operation = await server.request(`/api/v1/projects/${project.id}/operations`, json(owner, { kind: 'agent_run' }));
    expect(operation.status).toBe(201);
    expect(
      (await server.request(`/api/v1/projects/${project.id}/members/${editor.id}`, { method: 'DELETE', headers: owner.auth })).status,
    ).toBe(204);

    const { items, next_before } = await auditOf(project.id);
    expect(next_before).toBeNull();
    expect(items.map((e) => e.action)).toEqual([
      'member.delete',
      'operation.create',
      'document_version.create',
      'project.update',
      'member.put',
      'project.create',
    ]);
    const created = items.at(-1);
    expect(created).toMatchObject({
      actor: { user_id: owner.id, worker: null },
      target: { type: 'project', id: project.id },
      correlation_id: 'audit-create-1',
      changes: { name: 'Audited', language: 'de' },
    });
    expect(items.find((e) => e.action === 'project.update')).toMatchObject({
      actor: { user_id: editor.id },
      changes: { status: 'active' },
    });
    expect(items.find((e) => e.action === 'document_version.create')).toMatchObject({
      target: { type: 'document_version', id: ((await version.json()) as { id: string }).id },
      changes: { document_type: 'about', version: 1, content_bytes: 4 },
    });
    expect(items.find((e) => e.action === 'member.put')?.changes).toEqual({ role: 'editor' });
    expect(items[0]?.changes).toEqual({ previous_role: 'editor' });
  });

  it('when there are more entries than the limit, pages with next_before until null', async () => {
    const project = await createProject(server, owner, 'Paged');
    for (const step of [2, 3, 4]) {
      expect((await server.request(`/api/v1/projects/${project.id}`, json(owner, { current_step: step }, 'PATCH'))).status).toBe(200);
    }
    const first = await auditOf(project.id, owner, '?limit=3');
    expect(first.items.map((e) => e.changes.current_step)).toEqual([4, 3, 2]);
    expect(first.next_before).toBe(first.items[2]?.id);
    const second = await auditOf(project.id, owner, `?limit=3&before=${first.next_before}`);
    expect(second.items.map((e) => e.action)).toEqual(['project.create']);
    expect(second.next_before).toBeNull();
  });

  it('when the caller is an editor, returns 403', async () => {
    const project = await createProject(server, owner, 'Owners only');
    const editor = await createUser(server, 'Editor');
    await addMember(server, owner, project.id, editor, 'editor');
    const res = await server.request(`/api/v1/projects/${project.id}/audit`, { headers: editor.auth });
    expect(res.status).toBe(403);
  });

  it('when a write fails (last owner removed, invalid body, unknown member), writes no entry', async () => {
    const project = await createProject(server, owner, 'Failing writes');
    const before = await snapshot(db.url);
    const lastOwner = await server.request(`/api/v1/projects/${project.id}/members/${owner.id}`, { method: 'DELETE', headers: owner.auth });
    expect(lastOwner.status).toBe(409);
    expect((await server.request(`/api/v1/projects/${project.id}`, json(owner, { current_step: 9 }, 'PATCH'))).status).toBe(422);
    expect(
      (await server.request(`/api/v1/projects/${project.id}/members/${randomUUID()}`, json(owner, { role: 'viewer' }, 'PUT'))).status,
    ).toBe(404);
    expect(await snapshot(db.url)).toEqual(before);
    expect((await auditOf(project.id)).items.map((e) => e.action)).toEqual(['project.create']);
  });
});

describe('the audit_log table', () => {
  async function refused(statement: string): Promise<string> {
    try {
      await queryRows(db.url, statement);
    } catch (error) {
      return (error as { code?: string }).code ?? 'no code';
    }
    return 'accepted';
  }

  it('when the app role runs a raw UPDATE, DELETE or TRUNCATE, the database refuses it (42501) and the entries stay', async () => {
    const project = await createProject(server, owner, 'Tamper');
    const [{ n: before } = { n: -1 }] = await queryRows<{ n: number }>(db.url, 'select count(*)::int as n from audit_log');
    expect(await refused(`update audit_log set action = 'project.forged' where project_id = '${project.id}'`)).toBe('42501');
    expect(await refused(`delete from audit_log where project_id = '${project.id}'`)).toBe('42501');
    expect(await refused('truncate audit_log')).toBe('42501');
    // The retention sweep's flag does not open the door to a recent entry either.
    expect(
      await refused(`begin; set local jeex.audit_sweep = 'on'; delete from audit_log where project_id = '${project.id}'; commit`),
    ).toBe('42501');
    const [{ n: after } = { n: -2 }] = await queryRows<{ n: number }>(db.url, 'select count(*)::int as n from audit_log');
    expect(after).toBe(before);
    expect((await auditOf(project.id)).items.map((e) => e.action)).toEqual(['project.create']);
  });

  it('when the retention sweep runs, removes entries older than AUDIT_RETENTION_DAYS and keeps the rest', async () => {
    const project = await createProject(server, owner, 'Retention');
    const old = randomUUID();
    await queryRows(
      db.url,
      `insert into audit_log (project_id, actor_user_id, action, target_type, target_id, at)
       values ($1::uuid, $2, 'project.update', 'project', $3, now() - interval '40 days'),
              ($1::uuid, $2, 'project.update', 'project', $1::text, now() - interval '10 days')`,
      [project.id, owner.id, old],
    );
    expect(await new AuditLog(kysely).sweep(30)).toBe(1);
    const actions = (await auditOf(project.id)).items.map((e) => `${e.action}:${e.target.id === old ? 'old' : 'new'}`);
    expect(actions.sort()).toEqual(['project.create:new', 'project.update:new']);
  });
});

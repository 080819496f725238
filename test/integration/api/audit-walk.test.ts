import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/types.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { queryRows, snapshot } from '../../helpers/db-snapshot.js';
import { addMember, createProject, createUser, json, type TestUser } from '../../helpers/factories.js';
import { testKysely } from '../../helpers/kysely.js';
import { fill, type JsonSchema, type RouteEntry, routesOf, validValue } from '../../helpers/openapi-walk.js';

/**
 * Mutating routes that write no audit entry, and why (docs/adr/0021-safe-writes.md). Any other
 * POST, PUT, PATCH or DELETE in the route table must write exactly one.
 */
const NOT_AUDITED: Record<string, string> = {
  'POST /api/v1/auth/dev-login': 'development only; signs a user in, writes no project data',
  'POST /api/v1/projects/{project_id}/operations/{operation_id}/events': 'progress events: the operation history is their record',
  'POST /api/v1/worker/leases':
    'a worker credential acts for no user; each lease is recorded in operation_leases and as operation.started (docs/adr/0020)',
  'POST /api/v1/worker/leases/{lease_id}/heartbeat': 'extends a lease; changes no project data',
  'POST /api/v1/projects/{project_id}/messages':
    'one body for a user message and an assistant one, so the walk cannot make a valid one; a user message writes one entry ' +
    '(test/integration/conversation/messages.test.ts); an assistant message is an operation token’s (its operation is the record)',
  'POST /api/v1/projects/{project_id}/messages/{message_id}/deltas':
    'an agent reply’s text, by its operation token: the message is the record',
  'PATCH /api/v1/projects/{project_id}/messages/{message_id}': 'ends an agent reply, by its operation token: the message is the record',
};

let db: TestDatabase;
let kysely: Kysely<Database>;
let server: RunningApp;
let owner: TestUser;
let mutating: RouteEntry[];

beforeAll(async () => {
  db = await createTestDatabase();
  kysely = testKysely(db.url);
  server = await startApp({ DATABASE_URL: db.url });
  owner = await createUser(server, 'Owner');
  const doc = await (await server.request('/openapi.json')).json();
  mutating = routesOf(doc).filter((r) => r.method !== 'GET' && !(`${r.method} ${r.path}` in NOT_AUDITED));
});

afterAll(async () => {
  await kysely?.destroy();
  await server?.close();
  await db?.drop();
});

/** A fresh project with what every route may need: an editor, a document version, an operation. */
async function fixture(): Promise<Record<string, string>> {
  const project = await createProject(server, owner, 'Walked');
  const editor = await createUser(server, 'Editor');
  await addMember(server, owner, project.id, editor, 'editor');
  const version = await server.request(`/api/v1/projects/${project.id}/documents/about/versions`, json(owner, { content: 'v1' }));
  expect(version.status).toBe(201);
  const operation = await server.request(`/api/v1/projects/${project.id}/operations`, json(owner, { kind: 'agent_run' }));
  expect(operation.status).toBe(201);
  return {
    project_id: project.id,
    user_id: editor.id,
    document_type: 'about',
    version: '1',
    operation_id: ((await operation.json()) as { id: string }).id,
  };
}

/** A valid body that changes something: every property when none is required (a PATCH). */
function bodyFor(schema: JsonSchema): unknown {
  const value = validValue(schema);
  if (typeof value !== 'object' || value === null || Object.keys(value).length > 0 || !schema.properties) return value;
  return Object.fromEntries(Object.entries(schema.properties).map(([name, property]) => [name, validValue(property)]));
}

async function call(route: RouteEntry, params: Record<string, string>): Promise<Response> {
  const init: RequestInit = { method: route.method, headers: { ...owner.auth } };
  if (route.bodySchema) {
    init.headers = { ...owner.auth, 'content-type': 'application/json' };
    init.body = JSON.stringify(bodyFor(route.bodySchema));
  }
  return server.request(fill(route.path, params), init);
}

async function auditCount(): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db.url, 'select count(*)::int as n from audit_log');
  return row?.n ?? -1;
}

describe('the audit log over the route table (docs/contract.md §12)', () => {
  it('finds the mutating routes (a walk over nothing proves nothing)', () => {
    expect(mutating.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/projects',
        'PATCH /api/v1/projects/{project_id}',
        'DELETE /api/v1/projects/{project_id}',
        'PUT /api/v1/projects/{project_id}/members/{user_id}',
        'DELETE /api/v1/projects/{project_id}/members/{user_id}',
        'POST /api/v1/projects/{project_id}/documents/{document_type}/versions',
        'POST /api/v1/projects/{project_id}/operations',
      ]),
    );
  });

  it('every mutating route, when it succeeds, writes exactly one audit entry', async () => {
    const wrong: string[] = [];
    for (const route of mutating) {
      const params = await fixture();
      const before = await auditCount();
      const res = await call(route, params);
      const added = (await auditCount()) - before;
      if (res.status >= 300 || added !== 1) wrong.push(`${route.method} ${route.path}: ${res.status}, ${added} entries`);
    }
    expect(wrong).toEqual([]);
  });

  it('every mutating route, when its audit entry cannot be written, writes nothing at all (one transaction)', async () => {
    const wrong: string[] = [];
    for (const route of mutating) {
      const params = await fixture();
      // A fault injected into this test's own database only: every audit insert fails.
      await sql`create function fail_audit() returns trigger language plpgsql as $$ begin raise exception 'injected'; end $$;
                create trigger fail_audit before insert on audit_log for each row execute function fail_audit();`.execute(kysely);
      try {
        const before = await snapshot(db.url);
        const res = await call(route, params);
        const unchanged = JSON.stringify(await snapshot(db.url)) === JSON.stringify(before);
        if (res.status !== 500 || !unchanged) wrong.push(`${route.method} ${route.path}: ${res.status}, unchanged: ${unchanged}`);
      } finally {
        await sql`drop trigger fail_audit on audit_log; drop function fail_audit();`.execute(kysely);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('every mutating route, when its write fails at COMMIT, leaves no audit entry either (the entry is not written beside the transaction)', async () => {
    const tables = ['projects', 'project_members', 'document_versions', 'operations'];
    const wrong: string[] = [];
    for (const route of mutating) {
      const params = await fixture();
      // Deferred: the write and its audit insert both succeed, then COMMIT fails. An entry
      // written on another connection would survive it.
      await sql
        .raw(`create function fail_commit() returns trigger language plpgsql as $$ begin raise exception 'injected at commit'; end $$;
        ${tables.map((t) => `create constraint trigger fail_commit after insert or update or delete on ${t} deferrable initially deferred for each row execute function fail_commit();`).join('\n')}`)
        .execute(kysely);
      try {
        const before = await snapshot(db.url);
        const res = await call(route, params);
        const unchanged = JSON.stringify(await snapshot(db.url)) === JSON.stringify(before);
        if (res.status !== 500 || !unchanged) wrong.push(`${route.method} ${route.path}: ${res.status}, unchanged: ${unchanged}`);
      } finally {
        await sql.raw(`${tables.map((t) => `drop trigger fail_commit on ${t};`).join('\n')} drop function fail_commit();`).execute(kysely);
      }
    }
    expect(wrong).toEqual([]);
  });
});

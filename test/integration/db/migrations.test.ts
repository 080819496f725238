import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest } from '../../../src/db/migrator.js';
import type { Database } from '../../../src/db/types.js';
import { createEmptyDatabase, type TestDatabase } from '../../helpers/database.js';
import { testKysely } from '../../helpers/kysely.js';

let tdb: TestDatabase;
let db: Kysely<Database>;

beforeAll(async () => {
  tdb = await createEmptyDatabase();
  db = testKysely(tdb.url);
});

afterAll(async () => {
  await db?.destroy();
  await tdb?.drop();
});

async function tables(): Promise<string[]> {
  const { rows } = await sql<{
    name: string;
  }>`select table_name as name from information_schema.tables where table_schema = 'public' and table_name not like 'schema_migrations%' order by 1`.execute(
    db,
  );
  return rows.map((r) => r.name);
}

const ALL_UP = [
  'Up 0001_initial_schema',
  'Up 0002_operation_events',
  'Up 0003_vector_purges',
  'Up 0004_worker_leases',
  'Up 0005_safe_writes',
  'Up 0006_project_stream_and_messages',
  'Up 0007_exports',
];

describe('migrations', () => {
  it('run on PostgreSQL 18 (the version the product requires)', async () => {
    const { rows } = await sql<{ version: string }>`select version()`.execute(db);
    expect(rows[0]?.version).toMatch(/^PostgreSQL 18\./);
  });

  it('go up from empty, down to empty, and up again', async () => {
    expect(await migrateToLatest(db as Kysely<unknown>)).toEqual(ALL_UP);
    expect(await tables()).toEqual([
      'audit_log',
      'document_versions',
      'export_chunks',
      'exports',
      'idempotency_keys',
      'messages',
      'operation_events',
      'operation_leases',
      'operations',
      'project_events',
      'project_members',
      'project_streams',
      'projects',
      'users',
      'vector_purges',
    ]);
    expect(await migrateToLatest(db as Kysely<unknown>)).toEqual([]);
    expect(await migrateDown(db as Kysely<unknown>, true)).toEqual([...ALL_UP].reverse().map((m) => m.replace('Up', 'Down')));
    expect(await tables()).toEqual([]);
    expect(await migrateToLatest(db as Kysely<unknown>)).toEqual(ALL_UP);
  });

  it('0007 goes down alone: the exports and their chunks are gone, everything else stays', async () => {
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0007_exports']);
    expect(await tables()).toEqual([
      'audit_log',
      'document_versions',
      'idempotency_keys',
      'messages',
      'operation_events',
      'operation_leases',
      'operations',
      'project_events',
      'project_members',
      'project_streams',
      'projects',
      'users',
      'vector_purges',
    ]);
  });

  it('0006 goes down alone: the project stream, the messages and their triggers are gone, the rest stays', async () => {
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0006_project_stream_and_messages']);
    for (const table of ['messages', 'project_events', 'project_streams']) expect(await tables()).not.toContain(table);
    expect(await tables()).toContain('audit_log');
    const { rows } = await sql<{ name: string }>`
      select tgname as name from pg_trigger where not tgisinternal and tgname like '%to_project%'
      union all select proname from pg_proc where proname like '%project_event%' or proname like 'message_%'`.execute(db);
    expect(rows).toEqual([]);
    // Writes that used to make project events still work without them.
    const user = await db.insertInto('users').values({ email: 'down@example.com', name: 'D' }).returning('id').executeTakeFirstOrThrow();
    const project = await db.insertInto('projects').values({ name: 'p', createdBy: user.id }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('projectMembers').values({ projectId: project.id, userId: user.id, role: 'owner' }).execute();
    expect(await migrateToLatest(db as Kysely<unknown>)).toEqual(['Up 0006_project_stream_and_messages', 'Up 0007_exports']);
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0007_exports']);
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0006_project_stream_and_messages']);
  });

  it('0005 goes down alone: the audit log, the idempotency keys and the row version are gone, projects stay', async () => {
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0005_safe_writes']);
    expect(await tables()).not.toContain('audit_log');
    expect(await tables()).not.toContain('idempotency_keys');
    const { rows } = await sql<{ name: string }>`
      select column_name as name from information_schema.columns where table_name = 'projects' and column_name = 'row_version'`.execute(db);
    expect(rows).toEqual([]);
  });

  it('0004 goes down alone: the lease table and columns are gone, the event log stays', async () => {
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0004_worker_leases']);
    expect(await tables()).toEqual([
      'document_versions',
      'operation_events',
      'operations',
      'project_members',
      'projects',
      'users',
      'vector_purges',
    ]);
    const { rows } = await sql<{ name: string }>`
      select column_name as name from information_schema.columns
      where (table_name = 'operations' and (column_name like 'lease%' or column_name in ('attempt', 'cancel_requested')))
         or (table_name = 'operation_events' and column_name in ('client_seq', 'worker'))`.execute(db);
    expect(rows).toEqual([]);
  });

  it('0003 goes down alone: the vector purge queue is gone, everything else stays', async () => {
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0003_vector_purges']);
    expect(await tables()).toEqual(['document_versions', 'operation_events', 'operations', 'project_members', 'projects', 'users']);
  });

  it('0002 goes down alone: the event log and the sequence columns are gone, operations stay', async () => {
    expect(await migrateDown(db as Kysely<unknown>)).toEqual(['Down 0002_operation_events']);
    expect(await tables()).toEqual(['document_versions', 'operations', 'project_members', 'projects', 'users']);
    const { rows } = await sql<{ name: string }>`
      select column_name as name from information_schema.columns where table_name = 'operations' and column_name like '%event%'`.execute(
      db,
    );
    expect(rows).toEqual([]);
    expect(await migrateToLatest(db as Kysely<unknown>)).toEqual([
      'Up 0002_operation_events',
      'Up 0003_vector_purges',
      'Up 0004_worker_leases',
      'Up 0005_safe_writes',
      'Up 0006_project_stream_and_messages',
      'Up 0007_exports',
    ]);
  });

  it('are applied once when two runners start at the same time (advisory lock)', async () => {
    await migrateDown(db as Kysely<unknown>, true);
    const other = testKysely(tdb.url);
    try {
      const [a, b] = await Promise.all([migrateToLatest(db as Kysely<unknown>), migrateToLatest(other as Kysely<unknown>)]);
      expect([...a, ...b]).toEqual(ALL_UP);
    } finally {
      await other.destroy();
    }
  });

  it('leave constraints that refuse invalid rows', async () => {
    const user = await db.insertInto('users').values({ email: 'c@example.com', name: 'C' }).returning('id').executeTakeFirstOrThrow();
    await expect(
      sql`insert into projects (name, status, created_by) values ('x', 'finished', ${user.id})`.execute(db),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(sql`insert into projects (name, current_step, created_by) values ('x', 5, ${user.id})`.execute(db)).rejects.toMatchObject({
      code: '23514',
    });
    await expect(sql`insert into projects (name, language, created_by) values ('x', 'EN', ${user.id})`.execute(db)).rejects.toMatchObject({
      code: '23514',
    });
    const project = await db.insertInto('projects').values({ name: 'ok', createdBy: user.id }).returning('id').executeTakeFirstOrThrow();
    await expect(
      sql`insert into project_members (project_id, user_id, role) values (${project.id}, ${user.id}, 'admin')`.execute(db),
    ).rejects.toMatchObject({ code: '23514' });
    const version = { projectId: project.id, documentType: 'about' as const, version: 1, content: 'x', createdBy: user.id };
    await db.insertInto('documentVersions').values(version).execute();
    await expect(db.insertInto('documentVersions').values(version).execute()).rejects.toMatchObject({ code: '23505' });
    await expect(
      sql`insert into operations (project_id, kind, status, created_by) values (${project.id}, 'run', 'paused', ${user.id})`.execute(db),
    ).rejects.toMatchObject({
      code: '23514',
    });
    await expect(db.insertInto('users').values({ email: 'C@EXAMPLE.COM', name: 'dup' }).execute()).rejects.toMatchObject({ code: '23505' });
  });

  it('maintain updated_at and generate UUID v7 ids in the database', async () => {
    const u = await db.insertInto('users').values({ email: 'ts@example.com', name: 'T' }).returningAll().executeTakeFirstOrThrow();
    expect(u.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    await sql`select pg_sleep(0.01)`.execute(db);
    const updated = await db.updateTable('users').set({ name: 'T2' }).where('id', '=', u.id).returningAll().executeTakeFirstOrThrow();
    expect(updated.updatedAt.getTime()).toBeGreaterThan(u.updatedAt.getTime());
  });
});

import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { grantScope, type ProjectScope } from '../../../src/access/project-scope.js';
import type { Database } from '../../../src/db/types.js';
import { DocumentsRepository } from '../../../src/repositories/documents.repository.js';
import { MembersRepository } from '../../../src/repositories/members.repository.js';
import { ProjectsRepository } from '../../../src/repositories/projects.repository.js';
import { UsersRepository } from '../../../src/repositories/users.repository.js';
import { AuditLog } from '../../../src/services/audit.service.js';
import { ProjectsService } from '../../../src/services/projects.service.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { snapshot } from '../../helpers/db-snapshot.js';
import { testKysely } from '../../helpers/kysely.js';

let tdb: TestDatabase;
let db: Kysely<Database>;
let scopeA: ProjectScope;
let scopeB: ProjectScope;
let userB: string;

async function setup(name: string) {
  const user = await new UsersRepository(db).upsertByEmail(`${name}-${Date.now()}-${Math.random()}@example.com`, name);
  const project = await new ProjectsService(db, new AuditLog(db)).create(user.id, { name: `Project ${name}` });
  return { user, scope: grantScope({ projectId: project.id, userId: user.id, role: 'owner', language: 'en' }) };
}

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = testKysely(tdb.url);
  const a = await setup('A');
  const b = await setup('B');
  scopeA = a.scope;
  scopeB = b.scope;
  userB = b.user.id;
});

afterAll(async () => {
  await db?.destroy();
  await tdb?.drop();
});

describe('project-scoped repositories (docs/requirements.md scenario 6)', () => {
  const docs = () => new DocumentsRepository(db);
  const write = (scope: ProjectScope, content: string) =>
    db.transaction().execute((tx) =>
      new DocumentsRepository(tx).append(scope, {
        projectId: scope.projectId,
        documentType: 'about',
        content,
        metadata: {},
        createdBy: scope.userId,
      }),
    );

  beforeEach(async () => {
    await db.deleteFrom('documentVersions').execute();
  });

  it('listing in A returns only A’s rows, never B’s, never soft-deleted ones', async () => {
    await write(scopeA, 'a1');
    await write(scopeA, 'a2');
    await write(scopeA, 'a3');
    await write(scopeB, 'b1');
    expect(await docs().softDeleteVersion(scopeA, 'about', 2)).toBe(true);
    const listA = await docs().listVersions(scopeA, 'about', { limit: 100, offset: 0 });
    expect(listA.items.map((v) => v.version)).toEqual([3, 1]);
    expect(listA.total).toBe(2);
    expect(listA.items.every((v) => v.projectId === scopeA.projectId)).toBe(true);
    const latestA = await docs().latestPerType(scopeA);
    expect(latestA.map((v) => v.content)).toEqual(['a3']);
    expect(await docs().getVersion(scopeA, 'about', 2)).toBeUndefined();
  });

  it('every read with B’s scope on A’s rows finds nothing', async () => {
    await write(scopeA, 'secret');
    expect((await docs().listVersions(scopeB, 'about', { limit: 100, offset: 0 })).items).toEqual([]);
    expect(await docs().latestPerType(scopeB)).toEqual([]);
    expect(await docs().getVersion(scopeB, 'about', 1)).toBeUndefined();
    expect(await docs().getVersion(scopeB, 'about', 'latest')).toBeUndefined();
    const members = await new MembersRepository(db).list(scopeB);
    expect(members.map((m) => m.userId)).toEqual([userB]);
    const projects = new ProjectsRepository(db);
    expect((await projects.findMembership(scopeB.projectId, userB))?.project.id).toBe(scopeB.projectId);
    expect(await projects.findMembership(scopeA.projectId, userB)).toBeUndefined();
  });

  it('every write with B’s scope on A’s rows changes nothing', async () => {
    await write(scopeA, 'secret');
    const before = await snapshot(tdb.url);
    expect(await docs().softDeleteVersion(scopeB, 'about', 1)).toBe(false);
    expect(await new MembersRepository(db).remove(scopeB, scopeA.userId)).toBe(false);
    expect(await snapshot(tdb.url)).toEqual(before);
  });

  it('creating an entity of another project than the scope is refused before any SQL', async () => {
    const before = await snapshot(tdb.url);
    await expect(
      db.transaction().execute((tx) =>
        new DocumentsRepository(tx).append(scopeB, {
          projectId: scopeA.projectId,
          documentType: 'about',
          content: 'x',
          metadata: {},
          createdBy: userB,
        }),
      ),
    ).rejects.toMatchObject({ code: 'forbidden' });
    expect(await snapshot(tdb.url)).toEqual(before);
  });

  it('a project’s scope covers only its own project row', async () => {
    const projects = new ProjectsRepository(db);
    const renamed = await projects.update(scopeB, { name: 'Renamed B' });
    expect(renamed?.id).toBe(scopeB.projectId);
    expect((await projects.findMembership(scopeA.projectId, scopeA.userId))?.project.name).toBe('Project A');
  });
});

describe('transactions (no partial writes)', () => {
  it('when the owner membership cannot be written, the project is not created either', async () => {
    const user = await new UsersRepository(db).upsertByEmail(`tx-${Date.now()}@example.com`, 'Tx');
    // A fault injected into this test's own database only.
    await sql
      .raw(`create function fail_member() returns trigger language plpgsql as $$ begin raise exception 'injected'; end $$;
            create trigger fail_member before insert on project_members for each row execute function fail_member();`)
      .execute(db);
    const before = await snapshot(tdb.url);
    try {
      await expect(new ProjectsService(db, new AuditLog(db)).create(user.id, { name: 'Half' })).rejects.toThrow(/injected/);
      expect(await snapshot(tdb.url)).toEqual(before);
    } finally {
      await sql.raw('drop trigger fail_member on project_members; drop function fail_member();').execute(db);
    }
  });
});

import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/types.js';
import { VectorPurgesRepository } from '../../../src/repositories/vector-purges.repository.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { testKysely } from '../../helpers/kysely.js';
import { scopeFor } from '../../helpers/vector-fixtures.js';

/*
 * The queue behind durable vector purges (migration 0003): claims by several instances at once
 * never overlap, and each claim pushes the row's next attempt out by its backoff.
 */
let tdb: TestDatabase;
let db: Kysely<Database>;
let other: Kysely<Database>;
const backoff = { minMs: 1_000, maxMs: 60_000 };

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = testKysely(tdb.url);
  other = testKysely(tdb.url);
});

afterAll(async () => {
  await db?.destroy();
  await other?.destroy();
  await tdb?.drop();
});

async function deletedProjects(n: number): Promise<string[]> {
  const user = await db
    .insertInto('users')
    .values({ email: `purge-${Math.random()}@example.com`, name: 'P' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const rows = await db
    .insertInto('projects')
    .values(Array.from({ length: n }, (_, i) => ({ name: `p${i}`, createdBy: user.id, isDeleted: true, deletedAt: new Date() })))
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

describe('vector_purges queue', () => {
  it('when two sweeps claim due rows at once, each row goes to exactly one of them, and its next attempt moves out by the backoff', async () => {
    const ids = await deletedProjects(30);
    for (const id of ids) await new VectorPurgesRepository(db).enqueue(scopeFor(id, 'en'), 0);
    await sql`select pg_sleep(0.01)`.execute(db);

    const [a, b] = await Promise.all([
      new VectorPurgesRepository(db).claimDue({ limit: 20, backoff }),
      new VectorPurgesRepository(other).claimDue({ limit: 20, backoff }),
    ]);
    const claimed = [...a, ...b].map((p) => p.projectId);
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.sort()).toEqual([...ids].sort());
    expect([...a, ...b].every((p) => p.attempts === 1 && p.scope.language === 'en')).toBe(true);

    // Nothing is due any more until the backoff has passed.
    expect(await new VectorPurgesRepository(db).claimDue({ limit: 50, backoff })).toEqual([]);
    const { rows } = await sql<{ lo: number; hi: number }>`
      select extract(epoch from min(next_attempt_at) - now())::float8 as lo,
             extract(epoch from max(next_attempt_at) - now())::float8 as hi
        from vector_purges`.execute(db);
    expect(rows[0]?.lo).toBeGreaterThan(0.5);
    expect(rows[0]?.hi).toBeLessThanOrEqual(1.01);

    // A second claim of the same row (all, as at start) doubles the wait: 2 s.
    const again = await new VectorPurgesRepository(db).claimDue({ limit: 1, all: true, backoff });
    expect(again[0]?.attempts).toBe(2);
    const next = await sql<{ s: number }>`
      select extract(epoch from next_attempt_at - now())::float8 as s from vector_purges where project_id = ${again[0]?.projectId}`.execute(
      db,
    );
    expect(next.rows[0]?.s).toBeGreaterThan(1.5);
    expect(next.rows[0]?.s).toBeLessThanOrEqual(2.01);

    for (const id of ids) await new VectorPurgesRepository(db).complete(id);
    expect(await new VectorPurgesRepository(db).nextDueAt()).toBeNull();
  });
});

import type { Kysely } from 'kysely';
import { type Migration, type MigrationResultSet, Migrator, NO_MIGRATIONS } from 'kysely/migration';
import * as initialSchema from './migrations/0001_initial_schema.js';
import * as operationEvents from './migrations/0002_operation_events.js';
import * as vectorPurges from './migrations/0003_vector_purges.js';
import * as workerLeases from './migrations/0004_worker_leases.js';
import * as safeWrites from './migrations/0005_safe_writes.js';
import * as projectStreamAndMessages from './migrations/0006_project_stream_and_messages.js';
import * as exports_ from './migrations/0007_exports.js';

/**
 * Migrations are listed here explicitly (not read from a folder) so the same list runs from
 * `src/` under tsx and from `dist/` after a build. Kysely's PostgreSQL adapter takes a
 * transaction-level advisory lock around every run, so two instances starting at once
 * apply each migration exactly once.
 */
const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_initial_schema': initialSchema,
  '0002_operation_events': operationEvents,
  '0003_vector_purges': vectorPurges,
  '0004_worker_leases': workerLeases,
  '0005_safe_writes': safeWrites,
  '0006_project_stream_and_messages': projectStreamAndMessages,
  '0007_exports': exports_,
};

export function createMigrator(db: Kysely<unknown>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
    // Parallel branches land migrations out of number order (0005 before 0004): a database that
    // applied a later one still gets the earlier one instead of refusing to start (docs/adr/0020).
    allowUnorderedMigrations: true,
  });
}

function unwrap(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    throw new Error(`migration ${failed?.migrationName ?? '(setup)'} failed: ${cause}`, { cause: result.error });
  }
  return (result.results ?? []).map((r) => `${r.direction} ${r.migrationName}`);
}

/** Applies every pending migration; returns what ran, e.g. ["Up 0001_initial_schema"]. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  return unwrap(await createMigrator(db).migrateToLatest());
}

/** Reverts the last applied migration (or all of them with `all`). */
export async function migrateDown(db: Kysely<unknown>, all = false): Promise<string[]> {
  const migrator = createMigrator(db);
  if (all) {
    return unwrap(await migrator.migrateTo(NO_MIGRATIONS));
  }
  return unwrap(await migrator.migrateDown());
}

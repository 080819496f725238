import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    /** REDIS_URL when given, else a redis-server started for this run. */
    redisUrl: string;
  }
}

export const TEMPLATE_DB = 'jeex_template';

/**
 * One real PostgreSQL 18 for the whole run (embedded, in a temporary directory, durability
 * off for speed), with a migrated template database; each test file clones it (13–38 ms)
 * so files are independent and can run in parallel.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-test-pg-'));
  const server = await startEmbeddedPostgres({
    dataDir: dir,
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
  });

  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: server.url(), max: 1 }) }) });
  await sql`create database ${sql.id(TEMPLATE_DB)}`.execute(db);
  await db.destroy();

  const template = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: server.url(TEMPLATE_DB), max: 1 }) }),
  });
  await migrateToLatest(template);
  await template.destroy();

  const admin = new pg.Client({ connectionString: server.url() });
  await admin.connect();
  // A template with open connections cannot be cloned (55006): nobody may connect to it.
  await admin.query(`alter database ${TEMPLATE_DB} allow_connections false`);
  await admin.end();

  project.provide('pgAdminUrl', server.url());
  project.provide('pgTemplate', TEMPLATE_DB);

  const redis = process.env.REDIS_URL ? undefined : await startRedisServer();
  project.provide('redisUrl', process.env.REDIS_URL ?? redis?.url ?? '');

  return async () => {
    await redis?.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

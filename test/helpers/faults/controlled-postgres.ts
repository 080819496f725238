import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../src/db/embedded-postgres.js';
import { migrateToLatest } from '../../../src/db/migrator.js';
import { freePort } from '../server-process.js';

/**
 * A PostgreSQL 18 of the fault suite's own (the run's shared one cannot be stopped), on a fixed
 * port so a restart brings it back where the server's DATABASE_URL points. `stop()` is
 * PostgreSQL's fast shutdown: every backend, busy or idle, is terminated (57P01).
 */
export interface ControlledPostgres {
  /** The application database's URL (superuser), migrated. */
  readonly url: string;
  readonly stop: () => Promise<void>;
  readonly start: () => Promise<void>;
  readonly dispose: () => Promise<void>;
}

const DATABASE = 'jeex';

export async function startControlledPostgres(): Promise<ControlledPostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-faults-pg-'));
  const port = await freePort();
  let running: RunningPostgres | undefined;
  const start = async () => {
    const started = await startEmbeddedPostgres({
      dataDir: dir,
      port,
      // Durability off for speed, as in the shared test cluster; a fast shutdown is still clean.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    });
    running = started;
    // Its start retries on another port after a bind clash: the server would never find it.
    if (started.port !== port) throw new Error(`PostgreSQL came back on port ${started.port}, not ${port}`);
  };
  const stop = async () => {
    const current = running;
    running = undefined;
    await current?.stop();
  };
  await start();
  const admin = new pg.Client({ connectionString: running?.url('postgres') });
  await admin.connect();
  await admin.query(`create database ${DATABASE}`);
  await admin.end();
  // Migrated here, so the token command can run while the server starts.
  const url = running?.url(DATABASE) ?? '';
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
  await migrateToLatest(db);
  await db.destroy();
  return {
    url,
    stop,
    start,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

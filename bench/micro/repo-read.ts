import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CamelCasePlugin, type CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { grantScope, type ProjectScope } from '../../src/access/project-scope.js';
import { createDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/types.js';
import { createLogger } from '../../src/lib/logger.js';
import { ProjectsRepository } from '../../src/repositories/projects.repository.js';
import { UsersRepository } from '../../src/repositories/users.repository.js';
import { serveRequests } from '../lib/worker.js';

/**
 * The repo-read micro-benchmark (issue 3), in its own process with its own embedded
 * PostgreSQL. No HTTP: the same read three ways, in the same process and run —
 *   repository  the app's repository method on the app's database handle (createDatabase:
 *               Kysely + CamelCasePlugin, connection borrowing through p-retry, the
 *               sqlcommenter wrapper) — what a request pays;
 *   kysely      the same repository method on a plain Kysely over a plain pg.Pool (no retry,
 *               no comment wrapper) — to tell Kysely's share from the app's wrapper;
 *   pg          `pool.query(text, values)` on the app handle's own pg.Pool, with exactly the
 *               SQL text and parameters Kysely sent (captured from Kysely's log, not retyped).
 * The parent (bench/scenarios/repo-read.ts) asks for batches and alternates them.
 *
 * Requests: setup → {queries: {name: sql}}; batch {variant, query, ops, inFlight} → {wallUs, cpuUs}.
 */
type Variant = 'repository' | 'kysely' | 'pg';
type QueryName = 'membership' | 'project';

interface Fixture {
  readonly dataDir: string;
  readonly stopPostgres: () => Promise<void>;
  readonly app: DatabaseHandle;
  readonly bare: Kysely<Database>;
  readonly barePool: pg.Pool;
  readonly run: Record<Variant, Record<QueryName, () => Promise<unknown>>>;
  readonly sql: Record<QueryName, CompiledQuery>;
}

let fixture: Fixture | undefined;
let cleanupDataDir: string | undefined;

async function setup(): Promise<Fixture> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-repo-'));
  cleanupDataDir = dataDir;
  // The app's own durability settings: this measures reads, and reads do not fsync.
  const postgres = await startEmbeddedPostgres({ dataDir });
  const url = postgres.url('postgres');
  const logger = createLogger('warn');
  // Pool sizes as the app's defaults (min 10 / max 20): the same pool the app would read through.
  const app = createDatabase({ url, poolMin: 10, poolMax: 20, statementTimeoutMs: 30_000, logger });
  await migrateToLatest(app.db as Kysely<unknown>);

  let captured: CompiledQuery | undefined;
  const barePool = new pg.Pool({ connectionString: url, min: 10, max: 20 });
  barePool.on('error', () => undefined);
  const bare = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: barePool }),
    plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
    log: (event) => {
      if (event.level === 'query') captured = event.query;
    },
  });

  // A user, a project with metadata, and the user's owner membership: what the project read finds.
  const user = await new UsersRepository(app.db).upsertByEmail('bench@example.com', 'Bench');
  const project = await app.db.transaction().execute((tx) =>
    new ProjectsRepository(tx).createWithOwner({
      name: 'Bench project',
      createdBy: user.id,
      language: 'en',
      metadata: { source: 'bench' },
    }),
  );
  const appProjects = new ProjectsRepository(app.db);
  const bareProjects = new ProjectsRepository(bare);
  const membership = await appProjects.findMembership(project.id, user.id);
  if (!membership) throw new Error('seed failed: no membership');
  const scope: ProjectScope = grantScope(membership);

  const capture = async (query: () => Promise<unknown>): Promise<CompiledQuery> => {
    captured = undefined;
    await query();
    if (!captured) throw new Error('Kysely logged no query');
    return captured;
  };
  const sql = {
    membership: await capture(() => bareProjects.findMembership(project.id, user.id)),
    project: await capture(() => bareProjects.get(scope)),
  };
  const raw = (q: CompiledQuery) => () => app.pool.query(q.sql, [...q.parameters]);
  const run = {
    repository: { membership: () => appProjects.findMembership(project.id, user.id), project: () => appProjects.get(scope) },
    kysely: { membership: () => bareProjects.findMembership(project.id, user.id), project: () => bareProjects.get(scope) },
    pg: { membership: raw(sql.membership), project: raw(sql.project) },
  };
  // Every variant must find the row, or the comparison is of different work.
  for (const variant of Object.values(run)) {
    for (const query of Object.values(variant)) {
      const result = await query();
      const rowCount = typeof result === 'object' && result !== null && 'rowCount' in result ? result.rowCount : 1;
      if (result === undefined || rowCount !== 1) throw new Error('a variant found nothing');
    }
  }
  return { dataDir, stopPostgres: postgres.stop, app, bare, barePool, run, sql };
}

/** `ops` calls with `inFlight` of them outstanding at any time; wall and CPU µs per call. */
async function batch(call: () => Promise<unknown>, ops: number, inFlight: number): Promise<{ wallUs: number; cpuUs: number }> {
  let started = 0;
  const lane = async () => {
    while (started < ops) {
      started++;
      await call();
    }
  };
  const cpu = process.cpuUsage();
  const wall = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  const wallUs = ((performance.now() - wall) * 1000) / ops;
  const used = process.cpuUsage(cpu);
  return { wallUs, cpuUs: (used.user + used.system) / ops };
}

serveRequests(
  async (message) => {
    if (message.cmd === 'setup') {
      fixture = await setup();
      return { queries: { membership: fixture.sql.membership.sql, project: fixture.sql.project.sql } };
    }
    if (message.cmd === 'batch') {
      if (!fixture) throw new Error('setup first');
      const { variant, query, ops, inFlight } = message as { variant: Variant; query: QueryName; ops: number; inFlight: number };
      return batch(fixture.run[variant][query], ops, inFlight);
    }
    throw new Error(`unknown request ${String(message.cmd)}`);
  },
  async () => {
    if (fixture) {
      await fixture.bare.destroy();
      await fixture.app.close();
      await fixture.stopPostgres();
    }
    if (cleanupDataDir) await rm(cleanupDataDir, { recursive: true, force: true });
  },
);

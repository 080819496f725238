import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { type Kysely, sql } from 'kysely';
import pRetry from 'p-retry';
import type { Config } from '../../config.js';
import { createDatabase, type DatabaseHandle } from '../../db/database.js';
import { startEmbeddedPostgres } from '../../db/embedded-postgres.js';
import { migrateToLatest } from '../../db/migrator.js';
import type { Database } from '../../db/types.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>;
    database: DatabaseHandle;
  }
}

export interface PostgresPluginOptions {
  readonly config: Config;
  /** Start-up connection attempts (REL-002); tests shorten the backoff. */
  readonly startupAttempts?: number;
  readonly startupBackoffMs?: number;
}

/**
 * PostgreSQL for the app (issue 3): the external server in DATABASE_URL, or an embedded
 * PostgreSQL 18 in DATA_DIR/postgres when it is unset (refused in production by config).
 */
const postgres: FastifyPluginAsync<PostgresPluginOptions> = async (app, opts) => {
  const { config } = opts;
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (url === undefined) {
    const log = app.log.child({ component: 'embedded-postgres' });
    const embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      onLog: (line) => log.debug(line),
      onNotice: (message, fields) => log.info(fields, message),
    });
    url = embedded.url('postgres');
    stopEmbedded = embedded.stop;
    app.log.info({ port: embedded.port, cluster_dir: embedded.clusterDir }, 'embedded PostgreSQL 18 started');
  }

  const handle = createDatabase({
    url,
    poolMin: config.databasePoolMin,
    poolMax: config.databasePoolMax,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    logger: app.log,
  });

  try {
    await pRetry(() => sql`select 1`.execute(handle.db), {
      retries: (opts.startupAttempts ?? 3) - 1,
      minTimeout: opts.startupBackoffMs ?? 500,
      factor: 2,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) =>
        app.log.warn({ attempt: attemptNumber, retries_left: retriesLeft, reason: error.message }, 'database connection failed'),
    });
    if (stopEmbedded !== undefined || config.migrateOnStart) {
      const applied = await migrateToLatest(handle.db as Kysely<unknown>);
      if (applied.length > 0) app.log.info({ migrations: applied }, 'migrations applied');
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    await stopEmbedded?.().catch(() => undefined);
    throw error;
  }

  app.decorate('db', handle.db);
  app.decorate('database', handle);

  app.health.register({
    name: 'postgres',
    required: true,
    run: async () => {
      await sql`select 1`.execute(handle.db);
      const { totalCount, idleCount, waitingCount } = handle.pool;
      return {
        status: 'healthy',
        details: { pool_size: totalCount, pool_idle: idleCount, pool_waiting: waitingCount, pool_max: config.databasePoolMax },
      };
    },
  });

  app.addHook('onClose', async () => {
    await handle.close();
    await stopEmbedded?.();
  });
};

export default fp(postgres, { name: 'postgres', fastify: '5.x', dependencies: ['health'] });

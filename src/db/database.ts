import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { FastifyBaseLogger } from 'fastify';
import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pRetry from 'p-retry';
import pg from 'pg';
import { ServiceUnavailableError } from '../lib/errors.js';
import { currentContext } from '../lib/request-context.js';
import type { Database } from './types.js';
import { isDatabaseUnavailable } from './unavailable.js';

/*
 * node-postgres returns `timestamptz` as Date (fine), `int8`/`numeric` as string; we keep
 * those as strings and never use them for counters (counts are cast to int in SQL).
 */

export interface DatabaseOptions {
  readonly url: string;
  readonly poolMin: number;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
  readonly logger: FastifyBaseLogger;
  /** Attempts to get a connection before a request fails (REL-002: 3, exponential backoff). */
  readonly connectAttempts?: number;
  readonly connectBackoffMs?: number;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  readonly close: () => Promise<void>;
}

/**
 * A trailing sqlcommenter comment (https://google.github.io/sqlcommenter/spec/) with the
 * request's correlation id and trace context, so PostgreSQL's own logs and
 * pg_stat_activity show which request a query belongs to (OBS-001). pg_stat_statements
 * ignores comments when grouping, so this does not fragment its statistics.
 */
export function sqlComment(): string {
  const parts: string[] = [];
  const ctx = currentContext();
  if (ctx) parts.push(`correlation_id='${encodeURIComponent(ctx.correlation_id)}'`);
  const span = trace.getSpan(context.active())?.spanContext();
  if (span && isSpanContextValid(span)) {
    parts.push(`traceparent='${encodeURIComponent(`00-${span.traceId}-${span.spanId}-0${span.traceFlags & 1}`)}'`);
  }
  return parts.length === 0 ? '' : ` /*${parts.join(',')}*/`;
}

/** Errors that mean the server cannot be reached, as opposed to a bad query (the one list: ./unavailable.ts). */
export const isConnectionError = isDatabaseUnavailable;

/**
 * A query that failed because its connection went away (no SQLSTATE: pg's own "Connection
 * terminated unexpectedly", "Client was closed and is not queryable") is the database being
 * unavailable, not a bug: 503 postgres instead of 500 (docs/adr/0015).
 */
function unavailableIfConnectionLost(error: unknown): never {
  if (isConnectionError(error) && !(error instanceof ServiceUnavailableError)) {
    throw new ServiceUnavailableError('postgres', 'The database is unavailable', { cause: error });
  }
  throw error;
}

export function createDatabase(options: DatabaseOptions): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: options.url,
    min: options.poolMin,
    max: options.poolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 2_000,
    statement_timeout: options.statementTimeoutMs,
    application_name: 'jeex-api',
  });
  let closed = false;
  // A client emits `error` when its connection drops (backend terminated, restart, failover).
  // pg-pool listens only while the client is idle; a client checked out by a request (a
  // transaction still running its ROLLBACK, say) would throw the error out of the process.
  // So every client gets its own listener for its whole life, and it alone logs: one short
  // line (the error carries the whole client object), none once we are closing. The request
  // itself sees the failure through its query and answers 503 postgres
  // (test/integration/http/database-connection-loss.test.ts, docs/adr/0015).
  const onClientError = (error: Error & { code?: string }) => {
    if (!closed) options.logger.warn({ reason: error.message, code: error.code }, 'database connection lost');
  };
  pool.on('connect', (client) => client.on('error', onClientError));
  // pg-pool re-emits an idle client's error on the pool, which throws without a listener;
  // the client's own listener above has already logged it.
  pool.on('error', () => undefined);

  // One wrapper per pooled client, so Kysely (which caches per client object) sees a stable identity.
  const wrapped = new WeakMap<pg.PoolClient, pg.PoolClient>();
  const withComment = (client: pg.PoolClient): pg.PoolClient => {
    let w = wrapped.get(client);
    if (!w) {
      w = Object.create(client, {
        query: {
          value: (text: unknown, values?: unknown) => {
            const result: unknown =
              typeof text === 'string'
                ? client.query(text + sqlComment(), values as unknown[])
                : client.query(text as pg.QueryConfig, values as unknown[]);
            // A submittable (a cursor) is returned as is: only promises carry the failure.
            return result instanceof Promise ? result.catch(unavailableIfConnectionLost) : result;
          },
        },
        release: { value: (err?: Error | boolean) => client.release(err) },
      }) as pg.PoolClient;
      wrapped.set(client, w);
    }
    return w;
  };

  const attempts = options.connectAttempts ?? 3;
  const backoff = options.connectBackoffMs ?? 50;
  // Kysely only needs connect() and end(): borrowing goes through a retry with exponential
  // backoff (REL-002), then fails fast as 503 postgres instead of hanging the request.
  const retryingPool = {
    connect: () =>
      pRetry(() => pool.connect().then(withComment), {
        retries: attempts - 1,
        minTimeout: backoff,
        factor: 2,
        randomize: true,
        shouldRetry: ({ error }) => isConnectionError(error),
      }).catch((error: unknown) => {
        if (isConnectionError(error)) throw new ServiceUnavailableError('postgres', 'The database is unavailable', { cause: error });
        throw error;
      }),
    end: () => pool.end(),
  };

  // Each query is logged (with the request's correlation id, via the logger mixin) only at debug level.
  const queryLogging = options.logger.level === 'debug' || options.logger.level === 'trace';
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: retryingPool as unknown as pg.Pool }),
    // jsonb contents (metadata, input) are user data: their keys are never renamed.
    plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
    log: (event) => {
      if (!queryLogging && event.level !== 'error') return;
      const durationMs = Math.round(event.queryDurationMillis * 100) / 100;
      if (event.level === 'error') {
        options.logger.debug({ duration_ms: durationMs, sql: event.query.sql, err: event.error }, 'query failed');
      } else {
        options.logger.debug({ duration_ms: durationMs, sql: event.query.sql }, 'query');
      }
    },
  });

  return {
    db,
    pool,
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

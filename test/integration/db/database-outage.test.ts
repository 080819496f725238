import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../src/db/embedded-postgres.js';
import { migrateToLatest } from '../../../src/db/migrator.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createUser } from '../../helpers/factories.js';
import { freePort } from '../../helpers/server-process.js';

/*
 * A PostgreSQL 18 of this file's own, so it can be stopped and started under a running app
 * (docs/requirements.md scenario 4) without disturbing the other test files.
 */
let dir: string;
let port: number;
let pgServer: RunningPostgres | undefined;
let server: RunningApp;
/** Same port and password across restarts, so the URL stays valid. */
let dbUrl: string;

const start = async () => {
  pgServer = await startEmbeddedPostgres({ dataDir: dir, port, settings: { fsync: 'off' } });
};
const stop = async () => {
  await pgServer?.stop();
  pgServer = undefined;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jeex-outage-'));
  port = await freePort();
  await start();
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pgServer?.url(), max: 1 }) }) });
  await migrateToLatest(db);
  await db.destroy();
  dbUrl = pgServer?.url() ?? '';
  server = await startApp({ DATABASE_URL: dbUrl });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await stop();
  await rm(dir, { recursive: true, force: true });
});

type Ready = {
  status: string;
  components: Array<{ name: string; status: string; error: string | null; details: Record<string, number> | null }>;
};

describe('database health and outage', () => {
  it('25 concurrent readiness checks all succeed and the pool never exceeds 20 (scenario 3)', async () => {
    let maxTotal = 0;
    const sampler = setInterval(() => {
      maxTotal = Math.max(maxTotal, server.app.database.pool.totalCount);
    }, 1);
    const results = await Promise.all(Array.from({ length: 25 }, () => server.request('/api/v1/health/ready')));
    clearInterval(sampler);
    expect(results.map((r) => r.status)).toEqual(Array(25).fill(200));
    expect(maxTotal).toBeGreaterThan(0);
    expect(maxTotal).toBeLessThanOrEqual(20);
    const health = (await (await server.request('/api/v1/health')).json()) as Ready;
    const postgres = health.components.find((c) => c.name === 'postgres');
    expect(postgres?.status).toBe('healthy');
    expect(postgres?.details).toMatchObject({ pool_max: 20 });
    expect(typeof postgres?.details?.pool_size).toBe('number');
  });

  it('when PostgreSQL stops, readiness is 503 with postgres unhealthy and data routes 503 within ~1 s; when it returns, both recover (scenario 4)', async () => {
    const user = await createUser(server);
    await stop();
    try {
      const t0 = performance.now();
      // Health results are reused for up to 1 s (docs/adr/0011-rate-limit-sliding-log.md).
      await expect.poll(async () => (await server.request('/api/v1/health/ready')).status, { timeout: 3_000, interval: 50 }).toBe(503);
      const ready = await server.request('/api/v1/health/ready');
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as Ready;
      expect(body.status).toBe('unhealthy');
      const postgres = body.components.find((c) => c.name === 'postgres');
      expect(postgres?.status).toBe('unhealthy');
      expect(postgres?.error).toBeTruthy();

      const data = await server.request('/api/v1/projects', { headers: user.auth });
      expect(data.status).toBe(503);
      expect(await data.json()).toMatchObject({ error: 'service_unavailable', details: { service: 'postgres' } });
      expect(performance.now() - t0).toBeLessThan(3000);
      expect((await server.request('/api/v1/health/live')).status).toBe(200);
    } finally {
      await start();
    }
    await expect.poll(async () => (await server.request('/api/v1/health/ready')).status, { timeout: 3_000, interval: 50 }).toBe(200);
    const data = await server.request('/api/v1/projects', { headers: user.auth });
    expect(data.status).toBe(200);
  });

  it('a start-up against a database that comes up during the retries succeeds (REL-002)', async () => {
    await stop();
    const later = setTimeout(() => void start(), 300);
    let app: RunningApp | undefined;
    try {
      app = await startApp({ DATABASE_URL: dbUrl }, { startupBackoffMs: 400 });
      expect((await app.request('/api/v1/health/ready')).status).toBe(200);
      expect(app.logs.some((l) => l.msg === 'database connection failed')).toBe(true);
    } finally {
      clearTimeout(later);
      await app?.close();
    }
  });

  it('statement timeout is set on every connection of the pool, not only the first', async () => {
    // Hold all 20 connections at once (each waits for the others), so each is a distinct backend.
    const size = 20;
    let arrived = 0;
    let allIn: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const seen = await Promise.all(
      Array.from({ length: size }, () =>
        server.app.db.connection().execute(async (connection) => {
          const { rows } = await sql<{ pid: number; timeout: string }>`
            select pg_backend_pid() as pid, current_setting('statement_timeout') as timeout`.execute(connection);
          if (++arrived === size) allIn();
          await barrier;
          return rows[0];
        }),
      ),
    );
    expect(new Set(seen.map((r) => r?.pid)).size).toBe(size);
    expect(seen.map((r) => r?.timeout)).toEqual(Array(size).fill('30s'));
  });
});

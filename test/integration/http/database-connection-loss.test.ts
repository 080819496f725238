import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { queryRows } from '../../helpers/db-snapshot.js';
import { devLoginToken } from '../../helpers/factories.js';
import { freePort, type ServerProcess, spawnServer } from '../../helpers/server-process.js';
import { until } from '../../helpers/wait.js';

/*
 * Issue 14 item 2: a backend terminated while it runs a query (pg_terminate_backend, a
 * restart, a failover) emits `error` on a checked-out client, which pg-pool does not listen
 * to. The real entry point runs in a child process, so "the process lives" is observable.
 */
let db: TestDatabase;
let server: ServerProcess;
let base: string;
let auth: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawnServer({
    DATABASE_URL: db.url,
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'jeex-conn-loss-')),
    RATE_LIMIT_PER_MINUTE_IP: '0',
    RATE_LIMIT_PER_MINUTE_USER: '0',
    RATE_LIMIT_PER_MINUTE_PROJECT: '0',
  });
  await server.waitForLine(/Server listening/);
  auth = { authorization: `Bearer ${await devLoginToken(base, 'conn-loss@example.com')}` };
}, 60_000);

afterAll(async () => {
  if (server?.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await db?.drop();
});

const appBackends = (where: string) =>
  queryRows<{ pid: number }>(
    db.url,
    `select pid from pg_stat_activity where datname = current_database() and application_name = 'jeex-api' ${where}`,
  );

describe('a database connection dropped while a query runs (issue 14 item 2)', () => {
  it('when the app’s backends are terminated mid-query, the requests get 503 postgres and the process keeps serving', async () => {
    const created = await fetch(`${base}/api/v1/projects`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Locked' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    // Hold the lock that serialises writers of a document type (documents.repository.ts), so
    // the app's transactions wait inside PostgreSQL: queries in flight on checked-out clients.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`${id}:about`]);
    const inFlight = [1, 2, 3].map((n) =>
      fetch(`${base}/api/v1/projects/${id}/documents/about/versions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'x-correlation-id': `conn-loss-${n}` },
        body: JSON.stringify({ content: `Version ${n}` }),
      }),
    );
    try {
      await until(async () => (await appBackends(`and wait_event_type = 'Lock'`)).length === 3, 10_000);
      // Every backend of the app: the three waiting on the lock and the idle ones.
      const killed = await queryRows<{ ok: boolean }>(
        db.url,
        `select pg_terminate_backend(pid) as ok from pg_stat_activity
          where datname = current_database() and application_name = 'jeex-api'`,
      );
      expect(killed.length).toBeGreaterThanOrEqual(3);

      const responses = await Promise.all(inFlight);
      for (const [i, res] of responses.entries()) {
        expect(res.status).toBe(503);
        expect(res.headers.get('x-correlation-id')).toBe(`conn-loss-${i + 1}`);
        const body = (await res.json()) as Record<string, unknown>;
        expect(body).toMatchObject({
          error: 'service_unavailable',
          status_code: 503,
          correlation_id: `conn-loss-${i + 1}`,
          details: { service: 'postgres' },
        });
      }
    } finally {
      await locker.query('rollback');
      await locker.end();
    }

    expect(server.child.exitCode).toBe(null);
    expect(server.child.signalCode).toBe(null);
    const read = await fetch(`${base}/api/v1/projects/${id}`, { headers: auth });
    expect(read.status).toBe(200);
    expect(await queryRows(db.url, 'select 1 from document_versions')).toEqual([]);
    const written = await fetch(`${base}/api/v1/projects/${id}/documents/about/versions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'After' }),
    });
    expect(written.status).toBe(201);
    expect(((await written.json()) as { version: number }).version).toBe(1);

    // One short line per lost connection: the reason and code, never the client object.
    const lostLines = () =>
      server
        .stdout()
        .split('\n')
        .filter((l) => l.includes('database connection lost'));
    await until(() => lostLines().length >= 3);
    const lost = lostLines();
    for (const line of lost) {
      expect(line.length).toBeLessThan(400);
      expect(JSON.parse(line)).toMatchObject({ level: 'warn' });
    }
  });
});

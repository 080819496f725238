import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';

let db: TestDatabase;
let server: RunningApp;

const ECHO_BODY = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 10 }), count: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);

/** A peer the app calls out to: it answers with the headers it received. */
const echo = {
  server: createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers))),
  url: '',
};

beforeAll(async () => {
  await new Promise<void>((resolve) => echo.server.listen(0, '127.0.0.1', resolve));
  echo.url = `http://127.0.0.1:${(echo.server.address() as AddressInfo).port}`;
  db = await createTestDatabase();
  server = await startApp(
    { DATABASE_URL: db.url, BODY_LIMIT_BYTES: '2048' },
    {
      logLevel: 'debug',
      extend: (app) => {
        // Routes of this test's instance only, to reach each error path of the handler.
        app.post('/test-only/echo', { config: { public: true }, schema: { body: ECHO_BODY } }, async (req) => req.body);
        app.get('/test-only/boom', { config: { public: true } }, async () => {
          throw new Error('secret internals: SELECT password FROM users');
        });
        app.get('/test-only/own-query', { config: { public: true } }, async () => {
          const { rows } = await sql<{ query: string }>`select query from pg_stat_activity where pid = pg_backend_pid()`.execute(app.db);
          return { query: rows[0]?.query ?? '' };
        });
        app.get('/test-only/outgoing', { config: { public: true } }, async () => {
          const res = await fetch(`${echo.url}/echo`);
          return (await res.json()) as Record<string, unknown>;
        });
        app.get('/test-only/query', { config: { public: true } }, async () => {
          const row = await app.db
            .selectFrom('users')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow();
          return { n: Number(row.n) };
        });
      },
    },
  );
});

afterAll(async () => {
  echo.server.close();
  await server?.close();
  await db?.drop();
});

const post = (body: string, contentType = 'application/json', headers: Record<string, string> = {}) =>
  server.request('/test-only/echo', { method: 'POST', headers: { 'content-type': contentType, ...headers }, body });

async function expectErrorBody(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  const body = (await res.json()) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['correlation_id', 'details', 'error', 'message', 'status_code', 'timestamp']);
  expect(body.error).toBe(error);
  expect(body.status_code).toBe(status);
  expect(body.correlation_id).toBe(res.headers.get('x-correlation-id'));
  expect(new Date(body.timestamp as string).toISOString()).toBe(body.timestamp);
  return body;
}

describe('error responses (docs/contract.md §4)', () => {
  it('when the route is unknown, answers 404 not_found', async () => {
    const body = await expectErrorBody(await server.request('/api/v1/nope'), 404, 'not_found');
    expect(body.details).toBeNull();
  });

  it('when the JSON is malformed, answers 400 bad_request', async () => {
    await expectErrorBody(await post('{"name": '), 400, 'bad_request');
  });

  it('when the content type is not JSON, answers 400 bad_request', async () => {
    await expectErrorBody(await post('name=x', 'text/plain'), 400, 'bad_request');
  });

  it('when the JSON body is empty, answers 400 bad_request', async () => {
    await expectErrorBody(await post(''), 400, 'bad_request');
  });

  it('when the body is over the limit, answers 413 payload_too_large', async () => {
    await expectErrorBody(await post(JSON.stringify({ name: 'x'.repeat(5000), count: 1 })), 413, 'payload_too_large');
  });

  it('when the body breaks the schema, answers 422 with every problem as {path, message}', async () => {
    const body = await expectErrorBody(await post(JSON.stringify({ name: 42, extra: true })), 422, 'validation_error');
    const errors = (body.details as { errors: Array<{ path: string; message: string }> }).errors;
    const paths = errors.map((e) => e.path).sort();
    expect(paths).toEqual(['body/count', 'body/extra', 'body/name']);
    for (const e of errors) expect(typeof e.message).toBe('string');
  });

  it('when a value has the wrong JSON type, does not coerce it', async () => {
    const body = await expectErrorBody(await post(JSON.stringify({ name: 'ok', count: '3' })), 422, 'validation_error');
    expect(JSON.stringify(body.details)).toContain('body/count');
  });

  it('when the body is valid, passes it through', async () => {
    const res = await post(JSON.stringify({ name: 'ok', count: 3 }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: 'ok', count: 3 });
  });

  it('when a handler throws an unknown error with X-Correlation-ID test-123, answers 500 without internals and logs the stack (scenario 7)', async () => {
    const res = await server.request('/test-only/boom', { headers: { 'x-correlation-id': 'test-123' } });
    const body = await expectErrorBody(res, 500, 'internal_error');
    expect(body.correlation_id).toBe('test-123');
    expect(JSON.stringify(body)).not.toContain('secret');
    expect(JSON.stringify(body)).not.toContain('SELECT');
    const line = server.logs.find((l) => l.correlation_id === 'test-123' && l.level === 'error');
    expect(line).toBeDefined();
    const err = line?.err as { stack?: string; message?: string };
    expect(err.message).toContain('secret internals');
    expect(err.stack).toContain('errors-and-logs.test.ts');
  });
});

describe('correlation beyond the process (OBS-001)', () => {
  it('each SQL statement carries the correlation id to PostgreSQL as a sqlcommenter comment', async () => {
    const res = await server.request('/test-only/own-query', { headers: { 'x-correlation-id': 'sql-42:x' } });
    const { query } = (await res.json()) as { query: string };
    expect(query).toMatch(/\/\*correlation_id='sql-42%3Ax'\*\/$/);
  });

  it('outgoing HTTP calls carry the request’s X-Correlation-ID', async () => {
    const res = await server.request('/test-only/outgoing', { headers: { 'x-correlation-id': 'out-7' } });
    expect(((await res.json()) as Record<string, string>)['x-correlation-id']).toBe('out-7');
  });
});

describe('logs (OBS-002)', () => {
  it('when a request carries trace-456, every line of that request, its query lines included, carries it (scenario 10)', async () => {
    const res = await server.request('/test-only/query', { headers: { 'x-correlation-id': 'trace-456' } });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    const mine = server.logs.filter((l) => JSON.stringify(l).includes('trace-456'));
    expect(mine.every((l) => l.correlation_id === 'trace-456')).toBe(true);
    const query = mine.find((l) => l.msg === 'query');
    expect(query?.sql).toContain('select count(*)');
    expect(typeof query?.duration_ms).toBe('number');
    const completed = mine.find((l) => l.msg === 'request completed');
    expect(completed).toMatchObject({ method: 'GET', url: '/test-only/query', status_code: 200 });
    expect(typeof completed?.duration_ms).toBe('number');
  });

  it('each line is one JSON object with time, level and msg', async () => {
    await server.request('/api/v1/health/live');
    expect(server.rawLogs.length).toBeGreaterThan(0);
    for (const line of server.logs) {
      expect(typeof line.time).toBe('string');
      expect(typeof line.level).toBe('string');
      expect(typeof line.msg).toBe('string');
    }
  });

  it('never writes the Authorization header or an access_token value', async () => {
    const secret = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl';
    await server.request(`/api/v1/nope?access_token=${secret}&x=1`, {
      headers: { authorization: `Bearer ${secret}`, 'x-correlation-id': 'redact-1' },
    });
    await new Promise((r) => setTimeout(r, 20));
    const all = server.rawLogs.join('\n');
    expect(all).toContain('redact-1');
    expect(all).not.toContain(secret);
    const completed = server.logs.find((l) => l.correlation_id === 'redact-1' && l.msg === 'request completed');
    expect(completed?.url).toBe('/api/v1/nope'); // path only: no query string is logged
  });
});

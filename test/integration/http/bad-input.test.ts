import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_HEADERS } from '../../../src/plugins/http/security-headers.js';
import { useProjectApp } from '../../helpers/app-fixture.js';
import { startApp } from '../../helpers/build-app.js';
import { createTestDatabase } from '../../helpers/database.js';
import { snapshot } from '../../helpers/db-snapshot.js';
import { json } from '../../helpers/factories.js';
import { type RawResponse, rawRequest } from '../../helpers/raw-http.js';

/*
 * docs/contract.md §13 / issue 14 item 8: input PostgreSQL cannot store, JSON nested too deep and
 * errors raised by the router or Node's HTTP parser are answered with the §4 body, the
 * request's X-Correlation-ID and the §3 headers — never a 500 or 503, never a write.
 */
const ctx = useProjectApp({}, { project: 'Bad input' });

const ERROR_KEYS = ['correlation_id', 'details', 'error', 'message', 'status_code', 'timestamp'];

type ErrorBody = { error: string; status_code: number; correlation_id: string; details: { errors?: Array<{ path: string }> } | null };

/** The §4 body with the matching status, the correlation id in header and body, the §3 headers with their values. */
function expectContractError(res: { status: number; headers: Record<string, string>; body: string }, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toContain('application/json');
  const body = JSON.parse(res.body) as ErrorBody;
  expect(Object.keys(body).sort()).toEqual(ERROR_KEYS);
  expect(body).toMatchObject({ error, status_code: status });
  expect(res.headers['x-correlation-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  expect(body.correlation_id).toBe(res.headers['x-correlation-id']);
  for (const [name, value] of Object.entries(API_HEADERS)) expect(res.headers[name], name).toBe(value);
  return body;
}

async function viaFetch(res: Response): Promise<RawResponse> {
  return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: await res.text() };
}

/** A JSON request body written as text, so escapes such as \u0000 and \ud800 reach the server as sent. */
function rawJson(text: string, method = 'POST'): RequestInit {
  return { method, headers: { 'content-type': 'application/json', ...ctx.owner.auth }, body: text };
}

async function createOperation(): Promise<string> {
  const res = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations`, json(ctx.owner, { kind: 'agent_run' }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** JSON text `levels` arrays deep. */
function nested(levels: number): string {
  return `${'['.repeat(levels)}1${']'.repeat(levels)}`;
}

describe('text PostgreSQL cannot store (docs/contract.md §13)', () => {
  it.each([
    ['NUL in a project name (text, 22021)', '/projects', '{"name":"a\\u0000b"}', 'body/name'],
    ['an unpaired surrogate in a project name', '/projects', '{"name":"a\\ud800b"}', 'body/name'],
    ['NUL in document content', '/projects/{p}/documents/about/versions', '{"content":"x\\u0000"}', 'body/content'],
    [
      'NUL in document metadata (jsonb, 22P05)',
      '/projects/{p}/documents/about/versions',
      '{"content":"x","metadata":{"k":"\\u0000"}}',
      'body/metadata/k',
    ],
    [
      'NUL in a metadata property name',
      '/projects/{p}/documents/about/versions',
      '{"content":"x","metadata":{"a\\u0000":1}}',
      'body/metadata',
    ],
    [
      'an unpaired low surrogate in event data',
      '/projects/{p}/operations/{o}/events',
      '{"type":"progress","data":{"t":["\\udc00"]}}',
      'body/data/t/0',
    ],
    ['NUL in event data (jsonb, 22P05)', '/projects/{p}/operations/{o}/events', '{"type":"progress","data":"\\u0000"}', 'body/data'],
  ])('when a body carries %s, answers 422 naming the field and writes nothing', async (_name, route, text, path) => {
    const operationId = await createOperation();
    const url = `/api/v1${route.replace('{p}', ctx.project.id).replace('{o}', operationId)}`;
    const before = await snapshot(ctx.db.url);
    const body = expectContractError(await viaFetch(await ctx.server.request(url, rawJson(text))), 422, 'validation_error');
    expect(body.details?.errors?.map((e) => e.path)).toEqual([path]);
    expect(await snapshot(ctx.db.url)).toEqual(before);
    if (route.endsWith('/events')) {
      // Nothing was appended to the operation either: the next event is its first.
      const next = await ctx.server.request(url, json(ctx.owner, { type: 'progress' }));
      expect(next.status).toBe(202);
      expect(((await next.json()) as { id: number }).id).toBe(1);
    }
  });

  it('when a PATCH carries NUL, answers 422 and the project is unchanged', async () => {
    const before = await snapshot(ctx.db.url);
    const res = await ctx.server.request(`/api/v1/projects/${ctx.project.id}`, rawJson('{"name":"\\u0000"}', 'PATCH'));
    expectContractError(await viaFetch(res), 422, 'validation_error');
    expect(await snapshot(ctx.db.url)).toEqual(before);
  });

  it('when the text is well-formed (a surrogate pair, U+FFFD), it is stored as sent', async () => {
    const res = await ctx.server.request('/api/v1/projects', rawJson('{"name":"emoji \\ud83d\\ude00 \\ufffd"}'));
    expect(res.status).toBe(201);
    expect(((await res.json()) as { name: string }).name).toBe('emoji 😀 \ufffd');
  });
});

describe('JSON nesting (docs/contract.md §13: at most 64 levels)', () => {
  it('when event data makes the body 64 levels deep, it is accepted', async () => {
    const operationId = await createOperation();
    // The body object is level 1, so data may be 63 levels deep.
    const res = await ctx.server.request(
      `/api/v1/projects/${ctx.project.id}/operations/${operationId}/events`,
      rawJson(`{"type":"progress","data":${nested(63)}}`),
    );
    expect(res.status).toBe(202);
  });

  it.each([65, 5_000, 200_000])('when the body is %i levels deep, answers 422 and publishes nothing', async (depth) => {
    const operationId = await createOperation();
    const url = `/api/v1/projects/${ctx.project.id}/operations/${operationId}/events`;
    const before = await snapshot(ctx.db.url);
    const body = expectContractError(
      await viaFetch(await ctx.server.request(url, rawJson(`{"type":"progress","data":${nested(depth - 1)}}`))),
      422,
      'validation_error',
    );
    expect(body.details?.errors?.[0]?.path).toMatch(/^body\/data(\/0)*$/);
    expect(await snapshot(ctx.db.url)).toEqual(before);
    const next = await ctx.server.request(url, json(ctx.owner, { type: 'progress' }));
    expect(((await next.json()) as { id: number }).id).toBe(1);
  });
});

describe('errors of the router and of the HTTP parser (docs/contract.md §13)', () => {
  let before: Record<string, string>;
  beforeAll(async () => {
    before = await snapshot(ctx.db.url);
  });
  afterAll(async () => {
    expect(await snapshot(ctx.db.url)).toEqual(before);
  });

  const request = (line: string, headers: string[] = []) =>
    rawRequest(ctx.server.baseUrl, `${line}\r\nHost: localhost\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`);

  it('when a path has bad percent-encoding, answers 400 bad_request with the caller’s correlation id', async () => {
    const res = await request(`GET /api/v1/projects/%E0%A4%A HTTP/1.1`, [
      `Authorization: Bearer ${ctx.owner.token}`,
      'X-Correlation-ID: bad-url-1',
    ]);
    const body = expectContractError(res, 400, 'bad_request');
    expect(body.correlation_id).toBe('bad-url-1');
    expect(res.body).not.toContain('%E0');
  });

  it('when a path parameter is over 100 characters, answers 414 uri_too_long', async () => {
    const res = await request(`GET /api/v1/projects/${'a'.repeat(101)} HTTP/1.1`, ['X-Correlation-ID: long-param-1']);
    expect(expectContractError(res, 414, 'uri_too_long').correlation_id).toBe('long-param-1');
  });

  it('when the headers are over 16 KiB, answers 431 headers_too_large', async () => {
    const res = await request('GET /api/v1/health/live HTTP/1.1', ['X-Correlation-ID: big-headers-1', `X-Filler: ${'x'.repeat(20_000)}`]);
    expect(expectContractError(res, 431, 'headers_too_large').correlation_id).toBe('big-headers-1');
  });

  it('when the method is unknown, answers 400 bad_request with the caller’s correlation id', async () => {
    const res = await request('FROB /api/v1/health/live HTTP/1.1', ['X-Correlation-ID: frob-1']);
    expect(expectContractError(res, 400, 'bad_request').correlation_id).toBe('frob-1');
  });

  it('when the request line is malformed, answers 400 bad_request with a new correlation id', async () => {
    const res = await rawRequest(ctx.server.baseUrl, 'GET /api/v1/health/live HTTP/9.x\r\nX-Correlation-ID: <script>\r\n\r\n');
    const body = expectContractError(res, 400, 'bad_request');
    expect(body.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('each parser error is one log line with its correlation id, and the process keeps serving', async () => {
    await request('FROB / HTTP/1.1', ['X-Correlation-ID: frob-log-1']);
    const line = ctx.server.logs.find((l) => l.correlation_id === 'frob-log-1');
    expect(line).toMatchObject({ level: 'info', msg: 'malformed request rejected', status_code: 400 });
    expect((await ctx.server.request('/api/v1/health/live')).status).toBe(200);
  });
});

describe('requests during shutdown (docs/contract.md §13)', () => {
  it('when a request arrives while the server is closing, answers 503 with the §4 body and headers', async () => {
    const closingDb = await createTestDatabase();
    let letCloseGoOn: () => void = () => undefined;
    let closeStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      closeStarted = resolve;
    });
    const closing = await startApp(
      { DATABASE_URL: closingDb.url },
      {
        // This test's instance only: a shutdown step that takes its time (as ending streams
        // does), so the server still accepts connections while it is closing.
        extend: (app) => {
          app.addHook('preClose', (done) => {
            closeStarted();
            letCloseGoOn = done;
          });
        },
      },
    );
    try {
      const closed = closing.close();
      await started;
      const res = await closing.request('/api/v1/health/live', { headers: { 'x-correlation-id': 'closing-1' } });
      const body = expectContractError(await viaFetch(res), 503, 'service_unavailable');
      expect(body.correlation_id).toBe('closing-1');
      expect(body.details).toEqual({ service: 'api' });
      expect(res.headers.get('connection')).toBe('close');
      letCloseGoOn();
      await closed;
    } finally {
      letCloseGoOn();
      await closingDb.drop();
    }
  });
});

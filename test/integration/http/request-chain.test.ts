import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { SECURITY_HEADERS } from '../../helpers/contract-headers.js';
import { createTestDatabase } from '../../helpers/database.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function expectSecurityHeaders(res: Response): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name), name).toBe(value);
}

let server: RunningApp;

beforeAll(async () => {
  const db = await createTestDatabase();
  server = await startApp(
    { DATABASE_URL: db.url, CORS_ORIGINS: 'http://localhost:5200' },
    {
      extend: (app) => {
        // This test's instance only: a route that fails with an unexpected error.
        app.get('/test-only/boom', { config: { public: true } }, async () => {
          throw new Error('secret internals: SELECT * FROM users');
        });
      },
    },
  );
});

describe('X-Correlation-ID', () => {
  it('when the request has a valid id, echoes it (scenario: test-123)', async () => {
    const res = await server.request('/api/v1/health/live', { headers: { 'x-correlation-id': 'test-123' } });
    expect(res.headers.get('x-correlation-id')).toBe('test-123');
  });

  it('when the request has none, returns a new UUID v4 (scenario 2)', async () => {
    const res = await server.request('/api/v1/health');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-correlation-id')).toMatch(UUID_V4);
    expectSecurityHeaders(res);
  });

  it.each([
    ['too long', 'a'.repeat(129)],
    ['with a space', 'abc def'],
    ['with a newline-like character', 'abc%0aINJECTED'],
    ['with a slash', 'a/b'],
    ['with quotes', '"quoted"'],
  ])('when the id is %s, replaces it with a UUID v4', async (_what, value) => {
    const res = await server.request('/api/v1/health/live', { headers: { 'x-correlation-id': value } });
    expect(res.headers.get('x-correlation-id')).toMatch(UUID_V4);
  });

  it('when the id is exactly 128 allowed characters, keeps it', async () => {
    const value = `${'a'.repeat(120)}._:-0123`;
    const res = await server.request('/api/v1/health/live', { headers: { 'x-correlation-id': value } });
    expect(res.headers.get('x-correlation-id')).toBe(value);
  });
});

describe('security headers (SEC-001, scenario 8)', () => {
  it.each([
    ['a 200', '/api/v1/health/live', undefined],
    ['a 404', '/api/v1/nothing-here', undefined],
    ['a 400', '/api/v1/health/live', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' }],
    ['the OpenAPI document', '/openapi.json', undefined],
  ] as const)('on %s response, sets every header', async (_what, path, init) => {
    const res = await server.request(path, init as RequestInit | undefined);
    expectSecurityHeaders(res);
  });

  it('on a 500 response, sets every header', async () => {
    const res = await server.request('/test-only/boom');
    expect(res.status).toBe(500);
    expectSecurityHeaders(res);
  });

  it('on the docs page, relaxes the CSP for that page only', async () => {
    const docs = await server.request('/docs/');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
    const csp = docs.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(docs.headers.get('x-frame-options')).toBe('DENY');
    const api = await server.request('/api/v1/health/live');
    expect(api.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});

describe('CORS (SEC-004)', () => {
  const preflight = (origin: string) =>
    server.request('/api/v1/health/live', {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });

  it('when the preflight comes from an allowed origin, allows it with credentials', async () => {
    const res = await preflight('http://localhost:5200');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5200');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('last-event-id');
    expectSecurityHeaders(res);
  });

  it('when the preflight comes from http://malicious.com, answers 403 without Allow-Origin (scenario 9)', async () => {
    const res = await preflight('http://malicious.com');
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const body = (await res.json()) as { error: string };
    expect(body.error).toBe('forbidden');
    expectSecurityHeaders(res);
  });

  it('when a simple request comes from an allowed origin, exposes the correlation and rate-limit headers', async () => {
    const res = await server.request('/api/v1/health/live', { headers: { origin: 'http://localhost:5200' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5200');
    const exposed = res.headers.get('access-control-expose-headers') ?? '';
    expect(exposed).toContain('X-Correlation-ID');
    expect(exposed).toContain('RateLimit');
  });

  it('when a simple request comes from another origin, serves it without Allow-Origin', async () => {
    const res = await server.request('/api/v1/health/live', { headers: { origin: 'http://malicious.com' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('OpenAPI and docs (REQ-001)', () => {
  it('serves an OpenAPI 3.1 document listing the health routes', async () => {
    const res = await server.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/health', '/api/v1/health/live', '/api/v1/health/ready']));
    expect(doc.paths['/api/v1/health/ready']?.get?.responses['503']).toBeDefined();
  });
});

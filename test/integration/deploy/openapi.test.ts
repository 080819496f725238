import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';

/*
 * The OpenAPI document is what front-end developers and the typed client read: it must say the
 * truth about each route (who may call it, what it answers), and the committed client must be
 * generated from it. Redocly's lint (`npm run lint:openapi`, in CI) checks its form.
 */

const ROOT = path.resolve(import.meta.dirname, '../../..');

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { in: string; name: string; required?: boolean; schema?: { default?: unknown } }[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
}

interface Document {
  tags?: { name: string; description?: string }[];
  security?: unknown[];
  paths: Record<string, Record<string, Operation>>;
}

let server: RunningApp;
let db: TestDatabase;
let doc: Document;
let operations: { method: string; path: string; op: Operation }[];

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url });
  doc = (await (await server.request('/openapi.json')).json()) as Document;
  operations = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path: p, op })));
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** A request to an operation with well-formed path parameters and no token. */
function anonymousRequest(method: string, template: string): Promise<Response> {
  const url = template.replace(/\{(\w+)\}/g, (_m, name: string) =>
    name === 'document_type' ? 'about' : name === 'version' ? 'latest' : randomUUID(),
  );
  const init: RequestInit = { method: method.toUpperCase(), headers: { accept: 'application/json' } };
  if (['post', 'put', 'patch'].includes(method)) {
    init.headers = { ...init.headers, 'content-type': 'application/json' };
    init.body = '{}';
  }
  return server.request(url, init);
}

describe('GET /openapi.json', () => {
  it('gives every operation a unique operationId, a summary and one tag the document describes', () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    const described = new Map((doc.tags ?? []).map((t) => [t.name, t.description ?? '']));
    const ids = operations.map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path: p, op } of operations) {
      const where = `${method.toUpperCase()} ${p}`;
      expect(op.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.summary, where).toBeTruthy();
      expect(op.tags, where).toHaveLength(1);
      expect(described.get(op.tags?.[0] ?? '')?.length, where).toBeGreaterThan(20);
    }
  });

  it('declares bearer authentication, and `security: []` exactly on the routes that answer without a token', async () => {
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    const claims: string[] = [];
    const behaviour: string[] = [];
    for (const { method, path: p, op } of operations) {
      const res = await anonymousRequest(method, p);
      await res.body?.cancel();
      claims.push(`${method} ${p} ${Array.isArray(op.security) && op.security.length === 0 ? 'public' : 'token'}`);
      behaviour.push(`${method} ${p} ${res.status === 401 ? 'token' : 'public'}`);
      if (res.status === 401) expect(res.headers.get('www-authenticate'), p).toMatch(/^Bearer/);
    }
    expect(claims).toEqual(behaviour);
    expect(claims.filter((c) => c.endsWith('public')).sort()).toEqual([
      'get /.well-known/jwks.json public',
      'get /api/v1/exports/{export_id}/download public',
      'get /api/v1/health public',
      'get /api/v1/health/live public',
      'get /api/v1/health/ready public',
      'post /api/v1/auth/dev-login public',
    ]);
  });

  it('documents the error answers each kind of route can give, with the shared error body', () => {
    for (const { method, path: p, op } of operations) {
      const where = `${method.toUpperCase()} ${p}`;
      const codes = Object.keys(op.responses);
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const expected = [
        ...(isPublic ? [] : ['401', '429', '503']),
        ...(p.includes('{project_id}') ? ['403', '422'] : []),
        ...(op.requestBody ? ['400', '413', '422'] : []),
      ];
      expect(codes, where).toEqual(expect.arrayContaining(expected));
      for (const code of codes.filter((c) => Number(c) >= 400 && !where.includes('/health'))) {
        expect(JSON.stringify(op.responses[code]), `${where} ${code}`).toContain('#/components/schemas/ErrorResponse');
      }
    }
  });

  it('marks query parameters that have defaults as optional', () => {
    const list = operations.find(({ op }) => op.operationId === 'listProjects')?.op;
    const params = Object.fromEntries((list?.parameters ?? []).map((p) => [p.name, p]));
    expect(params.limit).toMatchObject({ in: 'query', required: false, schema: { default: 20 } });
    expect(params.offset).toMatchObject({ in: 'query', required: false, schema: { default: 0 } });
  });

  it('is the document the committed typed client was generated from, and the client is up to date', () => {
    const committed = JSON.parse(readFileSync(path.join(ROOT, 'clients/typescript/generated/openapi.json'), 'utf8')) as unknown;
    expect(committed).toEqual(doc);
    // Regenerates both files (document and types) from the route table and compares them.
    const check = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/generate-client.ts', '--check'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', DATABASE_URL: db.url },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(check.status, check.stderr).toBe(0);
  }, 90_000);
});

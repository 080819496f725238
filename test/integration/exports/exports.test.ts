import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { exportReady, getExport, sha256, startExport, waitForExport, writeVersion, zipOnDisk } from '../../helpers/exports.js';
import { addMember, createProject, createUser, json, type TestUser } from '../../helpers/factories.js';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.js';
import { openStream } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';

/*
 * Export (docs/contract.md §11, docs/adr/0023) over real HTTP, real PostgreSQL and a Redis of this
 * file's own: the archive read back with the standard `unzip`, the signed link, the TTL.
 */

let db: TestDatabase;
let redis: RedisServer;
let server: RunningApp;
let owner: TestUser;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = await startRedisServer();
  server = await startApp({ DATABASE_URL: db.url, REDIS_URL: redis.url, WORKER_LEASE_SECONDS: '10' });
  owner = await createUser(server, 'Owner');
});

afterAll(async () => {
  await server?.close();
  await redis?.stop();
  await db?.drop();
});

async function download(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return server.request(url, { headers });
}

/** The status of a request whose body is read and dropped (an unread body keeps its connection busy). */
async function statusOf(response: Promise<Response>): Promise<number> {
  const res = await response;
  await res.arrayBuffer();
  return res.status;
}

async function sql<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('POST /api/v1/projects/:id/exports', () => {
  it('when four document types have several versions, the ZIP holds the latest of each, as listed, with a matching manifest', async () => {
    const project = await createProject(server, owner, 'Idea: Ünïcode & Co. 2026!');
    const latest: Record<string, string> = {};
    for (const type of ['plan', 'about', 'architecture', 'specs']) {
      for (let v = 1; v <= 3; v++) {
        const content = `# ${type} v${v}\n\n${'Zeilen mit Umlauten äöü — '.repeat(50 * v)}\n`;
        await writeVersion(server, owner, project.id, type, content);
        latest[type] = content;
      }
    }

    const ready = await exportReady(server, owner, project.id);
    expect(ready.download_url).toMatch(new RegExp(`^/api/v1/exports/${ready.id}/download\\?sig=`));

    // The link works without any token (a browser tab).
    const res = await download(ready.download_url as string);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('content-disposition')).toContain("filename*=UTF-8''idea-%C3%BCn%C3%AFcode-co-2026.zip");
    expect(res.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    expect(ready.sha256).toBe(sha256(bytes));
    expect(ready.bytes).toBe(bytes.length);

    // The signature is a credential for 10 minutes: never in a log line (the request log keeps the path only).
    const sig = new URL(ready.download_url as string, server.baseUrl).searchParams.get('sig') as string;
    expect(server.rawLogs.some((line) => line.includes(sig.split('.')[2] as string))).toBe(false);

    const zip = zipOnDisk(bytes);
    expect(zip.test()).toContain('No errors detected');
    const slug = 'idea-ünïcode-co-2026';
    expect(zip.names()).toEqual([
      `${slug}/`,
      `${slug}/01-about.md`,
      `${slug}/02-specs.md`,
      `${slug}/03-architecture.md`,
      `${slug}/04-plan.md`,
      `${slug}/manifest.json`,
    ]);
    const files: Record<string, string> = {
      about: '01-about.md',
      specs: '02-specs.md',
      architecture: '03-architecture.md',
      plan: '04-plan.md',
    };
    for (const [type, file] of Object.entries(files)) expect(zip.read(`${slug}/${file}`).toString('utf8')).toBe(latest[type]);

    const manifest = JSON.parse(zip.read(`${slug}/manifest.json`).toString('utf8'));
    expect(manifest.project).toEqual({ id: project.id, name: 'Idea: Ünïcode & Co. 2026!', language: 'en' });
    expect(manifest.documents.map((d: { type: string }) => d.type)).toEqual(['about', 'specs', 'architecture', 'plan']);
    for (const doc of manifest.documents as Array<{ type: string; version: number; path: string; bytes: number; sha256: string }>) {
      const content = zip.read(`${slug}/${doc.path}`);
      expect(doc).toEqual({ type: doc.type, version: 3, path: files[doc.type], bytes: content.length, sha256: sha256(content) });
    }
  });

  it('when nothing changed, a second export is byte-identical; when one document changes, it differs', async () => {
    const project = await createProject(server, owner, 'Same bytes');
    for (const type of ['about', 'specs', 'architecture', 'plan'])
      await writeVersion(server, owner, project.id, type, `${type} ${randomBytes(2000).toString('base64')}`);

    const first = await exportReady(server, owner, project.id);
    // ZIP times have a 2-second resolution: the second build starts on another tick, so a clock
    // that leaked into the archive would show.
    await new Promise((r) => setTimeout(r, 2100));
    const second = await exportReady(server, owner, project.id);
    expect(second.id).not.toBe(first.id);
    expect(second.sha256).toBe(first.sha256);
    const [a, b] = await Promise.all(
      [first, second].map(async (e) => Buffer.from(await (await download(e.download_url as string)).arrayBuffer())),
    );
    expect(Buffer.compare(a as Buffer, b as Buffer)).toBe(0);

    await writeVersion(server, owner, project.id, 'specs', 'specs, revised');
    const third = await exportReady(server, owner, project.id);
    expect(third.sha256).not.toBe(first.sha256);
  });

  it('when the project has no documents, the archive holds a manifest with an empty list', async () => {
    const project = await createProject(server, owner, 'Empty');
    const ready = await exportReady(server, owner, project.id);
    const zip = zipOnDisk(Buffer.from(await (await download(ready.download_url as string)).arrayBuffer()));
    expect(zip.test()).toContain('No errors detected');
    expect(zip.names()).toEqual(['empty/', 'empty/manifest.json']);
    expect(JSON.parse(zip.read('empty/manifest.json').toString('utf8'))).toEqual({
      project: { id: project.id, name: 'Empty', language: 'en' },
      documents: [],
    });
  });

  it('reports one progress event per document on the operation stream, then export.completed', async () => {
    const project = await createProject(server, owner, 'Progress');
    for (const type of ['about', 'specs', 'plan']) await writeVersion(server, owner, project.id, type, `${type} body`);
    const { export: created, operation } = await startExport(server, owner, project.id);
    expect(created.status).toBe('pending');
    const stream = await openStream(`${server.baseUrl}/api/v1/projects/${project.id}/operations/${operation.id}/events`, {
      ...owner.auth,
      'last-event-id': '0',
    });
    await stream.ended;
    const events = stream.events.map((e) => ({ type: e.event, data: JSON.parse(e.data).data }));
    expect(events.map((e) => e.type)).toEqual([
      'operation.started',
      'export.progress',
      'export.progress',
      'export.progress',
      'export.completed',
    ]);
    expect(events.filter((e) => e.type === 'export.progress').map((e) => [e.data.document_type, e.data.done, e.data.total])).toEqual([
      ['about', 1, 3],
      ['specs', 2, 3],
      ['plan', 3, 3],
    ]);
    const done = await getExport(server, owner, project.id, created.id);
    expect(events.at(-1)?.data).toMatchObject({ export_id: created.id, bytes: done.bytes, sha256: done.sha256 });
  });

  it('when the caller is a viewer, exports; when not a member, 403 and nothing written', async () => {
    const project = await createProject(server, owner, 'Roles');
    const viewer = await createUser(server, 'Viewer');
    const stranger = await createUser(server, 'Stranger');
    await addMember(server, owner, project.id, viewer, 'viewer');
    const ready = await exportReady(server, viewer, project.id);
    expect(await statusOf(download(ready.download_url as string))).toBe(200);

    const before = await sql<{ n: number }>('select count(*)::int as n from exports where project_id = $1', [project.id]);
    const refused = await server.request(`/api/v1/projects/${project.id}/exports`, json(stranger, {}));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe('forbidden');
    expect(await statusOf(server.request(`/api/v1/projects/${project.id}/exports/${ready.id}`, { headers: stranger.auth }))).toBe(403);
    expect(await sql('select count(*)::int as n from exports where project_id = $1', [project.id])).toEqual(before);
  });

  it('writes one audit entry for the export, with the caller as actor (docs/contract.md §12)', async () => {
    const project = await createProject(server, owner, 'Audited');
    const { export: created, operation } = await startExport(server, owner, project.id);
    const res = await server.request(`/api/v1/projects/${project.id}/audit`, { headers: owner.auth });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: Array<{ action: string; actor: unknown; target: unknown; changes: unknown }> };
    const entries = items.filter((i) => i.action.startsWith('export.') || i.action.startsWith('operation.'));
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'export.create',
        actor: { user_id: owner.id, worker: null },
        target: { type: 'export', id: created.id },
        changes: { operation_id: operation.id },
      }),
    ]);
  });

  it('when an operation of kind export is started through POST /operations, 422 and nothing written', async () => {
    const project = await createProject(server, owner, 'Reserved kind');
    const res = await server.request(`/api/v1/projects/${project.id}/operations`, json(owner, { kind: 'export' }));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { details: unknown }).details).toEqual({
      errors: [{ path: 'body/kind', message: 'operations of kind "export" are started with POST /projects/{project_id}/exports' }],
    });
    expect(await sql('select count(*)::int as n from operations where project_id = $1', [project.id])).toEqual([{ n: 0 }]);
  });

  it('when the body has unknown properties, 422 and nothing written', async () => {
    const project = await createProject(server, owner, 'Bad body');
    expect(await statusOf(server.request(`/api/v1/projects/${project.id}/exports`, json(owner, { format: 'tar' })))).toBe(422);
    expect(await sql('select count(*)::int as n from operations where project_id = $1', [project.id])).toEqual([{ n: 0 }]);
  });
});

describe('GET /api/v1/exports/:id/download', () => {
  it('when the signature is tampered with, made for another export or missing, 403 with one same body', async () => {
    const project = await createProject(server, owner, 'Links');
    await writeVersion(server, owner, project.id, 'about', 'about');
    const a = await exportReady(server, owner, project.id);
    const b = await exportReady(server, owner, project.id);
    const sigA = new URL(a.download_url as string, server.baseUrl).searchParams.get('sig') as string;
    const flip = (s: string) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A');
    const [exp, user] = sigA.split('.');
    const attempts = [
      `/api/v1/exports/${a.id}/download?sig=${flip(sigA)}`, // MAC tampered
      `/api/v1/exports/${a.id}/download?sig=${Number(exp) + 3600}.${sigA.slice(sigA.indexOf('.') + 1)}`, // expiry pushed out
      `/api/v1/exports/${a.id}/download?sig=${exp}.${owner.id === user ? (await createUser(server)).id : owner.id}.${sigA.split('.')[2]}`, // another user
      `/api/v1/exports/${b.id}/download?sig=${sigA}`, // another export
      `/api/v1/exports/0193a6f4-2e3f-7a41-8c5d-6e7f8091a2b3/download?sig=${sigA}`, // no such export
      `/api/v1/exports/${a.id}/download?sig=garbage`,
    ];
    const bodies = [];
    for (const url of attempts) {
      const res = await download(url, owner.auth);
      expect(res.status, url).toBe(403);
      const body = (await res.json()) as { error: string; message: string; details: unknown };
      bodies.push([body.error, body.message, body.details]);
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(await statusOf(download(`/api/v1/exports/${a.id}/download`))).toBe(422);
  });

  it('when If-None-Match carries the ETag, 304', async () => {
    const project = await createProject(server, owner, 'Etag');
    const ready = await exportReady(server, owner, project.id);
    const res = await download(ready.download_url as string, { 'if-none-match': `"${ready.sha256}"` });
    expect(res.status).toBe(304);
    expect(res.headers.get('etag')).toBe(`"${ready.sha256}"`);
    await res.arrayBuffer();
  });

  it('when the signer is no longer a member, 403', async () => {
    const project = await createProject(server, owner, 'Former');
    const viewer = await createUser(server, 'Viewer');
    await addMember(server, owner, project.id, viewer, 'viewer');
    const ready = await exportReady(server, viewer, project.id);
    expect(
      await statusOf(server.request(`/api/v1/projects/${project.id}/members/${viewer.id}`, { method: 'DELETE', headers: owner.auth })),
    ).toBe(204);
    expect(await statusOf(download(ready.download_url as string))).toBe(403);
  });

  it('when the link is older than its TTL, 403', async () => {
    const short = await startApp({ DATABASE_URL: db.url, REDIS_URL: redis.url, WORKER_LEASE_SECONDS: '10', EXPORT_LINK_TTL_SECONDS: '1' });
    const project = await createProject(short, owner, 'Short link');
    const ready = await exportReady(short, owner, project.id);
    const url = ready.download_url as string;
    const exp = Number((new URL(url, short.baseUrl).searchParams.get('sig') as string).split('.')[0]);
    // Before expiry it works; after, refused (the link's own expiry, no sleep beyond it).
    if (Date.now() < exp * 1000 - 200) {
      const early = await short.request(url);
      expect(early.status).toBe(200);
      await early.arrayBuffer();
    }
    await until(() => Date.now() > exp * 1000 + 50, 3000);
    expect(await statusOf(short.request(url))).toBe(403);
    // A fresh GET signs a fresh link.
    const again = await getExport(short, owner, project.id, ready.id);
    const fresh = await short.request(again.download_url as string);
    expect(fresh.status).toBe(200);
    await fresh.arrayBuffer();
    await short.close();
  });
});

describe('EXPORT_TTL_HOURS', () => {
  it('after the TTL, the export says expired, its link answers 410, and one sweep across two instances removed its bytes', async () => {
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, WORKER_LEASE_SECONDS: '10', EXPORT_TTL_HOURS: '0.0005' }; // 1.8 s
    const [one, two] = await Promise.all([startApp(env), startApp(env)]);
    const project = await createProject(one as RunningApp, owner, 'Short lived');
    await writeVersion(one as RunningApp, owner, project.id, 'about', 'about');
    const { export: created } = await startExport(one as RunningApp, owner, project.id);
    const ready = await waitForExport(one as RunningApp, owner, project.id, created.id);
    expect(ready.status).toBe('ready');
    expect(await statusOf((one as RunningApp).request(ready.download_url as string))).toBe(200);

    await until(async () => (await getExport(two as RunningApp, owner, project.id, created.id)).status === 'expired', 10_000, 50);
    const gone = await (two as RunningApp).request(ready.download_url as string);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { error: string }).error).toBe('gone');

    const sweptLines = () =>
      [...(one as RunningApp).logs, ...(two as RunningApp).logs].filter(
        (l) => l.msg?.startsWith('export expired') && l.export_id === created.id,
      );
    await until(() => sweptLines().length > 0, 10_000, 50);
    await until(async () => (await sql('select 1 from export_chunks where export_id = $1', [created.id])).length === 0, 5_000, 50);
    // Both instances keep sweeping: still once.
    await new Promise((r) => setTimeout(r, 2500));
    expect(sweptLines()).toHaveLength(1);
    expect(await sql<{ status: string }>('select status from exports where id = $1', [created.id])).toEqual([{ status: 'expired' }]);
    await Promise.all([one?.close(), two?.close()]);
  });
});

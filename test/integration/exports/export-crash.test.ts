import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { sha256, startExport, waitForExport, writeVersion, zipOnDisk } from '../../helpers/exports.js';
import { createProject, devLoginToken, type TestUser } from '../../helpers/factories.js';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.js';
import { freePort, type ServerProcess, spawnServer } from '../../helpers/server-process.js';
import { openStream } from '../../helpers/sse-client.js';

/*
 * A crash mid-export (docs/contract.md §11, docs/adr/0023): two real server processes on one
 * PostgreSQL and one Redis; the one whose worker took the export is killed with SIGKILL while it
 * builds (EXPORT_BUILD_DELAY_MS slows each document: a start-up knob, never a route); its lease
 * expires and the other instance's worker builds the export from the start.
 */

interface Instance {
  readonly process: ServerProcess;
  readonly base: string;
  readonly request: (p: string, init?: RequestInit) => Promise<Response>;
}

let db: TestDatabase;
let redis: RedisServer;
const instances: Instance[] = [];

async function startInstance(dataDir: string): Promise<Instance> {
  const port = await freePort();
  const process = spawnServer({
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    RATE_LIMIT_PER_MINUTE_IP: '0',
    RATE_LIMIT_PER_MINUTE_USER: '0',
    RATE_LIMIT_PER_MINUTE_PROJECT: '0',
    WORKER_LEASE_SECONDS: '10',
    EXPORT_BUILD_DELAY_MS: '1500',
  });
  await process.waitForLine(/Server listening/, 60_000);
  const base = `http://127.0.0.1:${port}`;
  return { process, base, request: (p, init) => fetch(`${base}${p}`, init) };
}

beforeAll(async () => {
  db = await createTestDatabase();
  redis = await startRedisServer();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jeex-export-crash-'));
  // One first, so the two share the signing keys it generates into DATA_DIR.
  instances.push(await startInstance(dataDir));
  instances.push(await startInstance(dataDir));
}, 120_000);

afterAll(async () => {
  for (const i of instances) if (i.process.child.exitCode === null) i.process.child.kill('SIGKILL');
  await Promise.all(instances.map((i) => i.process.exited));
  await redis?.stop();
  await db?.drop();
});

describe('an API instance killed while it builds an export', () => {
  it('leaves the export to the other instance, which builds it completely', async () => {
    const [a, b] = instances as [Instance, Instance];
    const token = await devLoginToken(a.base, `crash-${Date.now()}@example.com`, 'Crash');
    const me = (await (await a.request('/api/v1/auth/me', { headers: { authorization: `Bearer ${token}` } })).json()) as { id: string };
    const owner: TestUser = { id: me.id, email: '', token, auth: { authorization: `Bearer ${token}` } };
    const project = await createProject(a as never, owner, 'Crash test');
    const contents: Record<string, string> = {};
    for (const type of ['about', 'specs', 'architecture', 'plan']) {
      contents[type] = `# ${type}\n${'x'.repeat(10_000)}\n`;
      await writeVersion(a, owner, project.id, type, contents[type] as string);
    }

    const { export: created, operation } = await startExport(a, owner, project.id);
    const stream = await openStream(`${b.base}/api/v1/projects/${project.id}/operations/${operation.id}/events`, owner.auth);
    // Mid-way: the first worker has put a document in the archive.
    await stream.waitFor((events) => events.some((e) => e.event === 'export.progress'), 20_000);
    const started = JSON.parse(stream.events.find((e) => e.event === 'operation.started')?.data ?? '{}').data as { worker: string };
    const builder = instances.find((i) => started.worker.includes(`:${i.process.child.pid}:`));
    expect(builder, started.worker).toBeDefined();
    const survivor = builder === a ? b : a;
    builder?.process.child.kill('SIGKILL');
    await builder?.process.exited;

    const done = await waitForExport(survivor, owner, project.id, created.id, 45_000);
    expect(done.status).toBe('ready');
    stream.close();
    // The whole history, from the survivor (the first stream may have been on the killed instance).
    const history = await openStream(`${survivor.base}/api/v1/projects/${project.id}/operations/${operation.id}/events`, {
      ...owner.auth,
      'last-event-id': '0',
    });
    await history.ended;
    const types = history.events.map((e) => e.event);
    expect(types).toContain('operation.retrying');
    expect(types.at(-1)).toBe('export.completed');
    const second = JSON.parse(history.events.filter((e) => e.event === 'operation.started').at(-1)?.data ?? '{}').data as {
      worker: string;
    };
    expect(second.worker).toContain(`:${survivor.process.child.pid}:`);

    const res = await survivor.request(done.download_url as string);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(sha256(bytes)).toBe(done.sha256);
    const zip = zipOnDisk(bytes);
    expect(zip.test()).toContain('No errors detected');
    expect(zip.read('crash-test/04-plan.md').toString('utf8')).toBe(contents.plan);

    // A graceful stop in the middle of a build still exits within the 5 s of docs/contract.md §7.
    const next = await startExport(survivor, owner, project.id);
    const live = await openStream(`${survivor.base}/api/v1/projects/${project.id}/operations/${next.operation.id}/events`, owner.auth);
    await live.waitFor((events) => events.some((e) => e.event === 'export.progress'), 20_000);
    const t0 = performance.now();
    survivor.process.child.kill('SIGTERM');
    const exit = await survivor.process.exited;
    expect(exit.code).toBe(0);
    expect(exit.atMs - t0).toBeLessThan(5000);
  }, 90_000);
});

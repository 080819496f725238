import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '../../../src/lib/errors.js';
import type { VectorsRepository } from '../../../src/repositories/vectors.repository.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createProject, createUser } from '../../helpers/factories.js';
import { QdrantStandIn } from '../../helpers/qdrant-stand-in.js';
import { randomVector, scopeFor, seeded } from '../../helpers/vector-fixtures.js';

let db: TestDatabase;
/** One stand-in per test: each one is stopped and started at will. */
let standIn: QdrantStandIn;
const running: RunningApp[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
  const violations = standIn?.takeViolations() ?? [];
  await standIn?.stop();
  expect(violations).toEqual([]);
});

afterAll(() => db?.drop());

async function start(collection = `jeex_${randomBytes(5).toString('hex')}`): Promise<RunningApp> {
  const app = await startApp({
    DATABASE_URL: db.url,
    QDRANT_URL: standIn.url,
    QDRANT_COLLECTION: collection,
    QDRANT_VECTOR_SIZE: '8',
  });
  running.push(app);
  return app;
}

type Health = {
  status: string;
  components: Array<{ name: string; status: string; error: string | null; details: Record<string, unknown> | null }>;
};

async function qdrantHealth(app: RunningApp) {
  const res = await app.request('/api/v1/health/ready');
  const body = (await res.json()) as Health;
  return { ready: res.status, status: body.status, qdrant: body.components.find((c) => c.name === 'qdrant') };
}

function vectorsOf(app: RunningApp): VectorsRepository {
  if (app.app.vectors === null) throw new Error('the app has no vector store');
  return app.app.vectors;
}

describe('vector store outages (against a Qdrant 1.15 OpenAPI-validated stand-in)', () => {
  it('when Qdrant is unreachable at start, the app starts and serves, reports qdrant unhealthy (ready 503), and the repository answers service_unavailable after the retries', async () => {
    standIn = await QdrantStandIn.start();
    await standIn.stop();
    const app = await start();

    expect(await qdrantHealth(app)).toMatchObject({
      ready: 503,
      status: 'unhealthy',
      qdrant: { status: 'unhealthy', details: { bootstrap: 'pending' } },
    });
    expect((await qdrantHealth(app)).qdrant?.error).toMatch(/ECONNREFUSED/);
    expect((await app.request('/api/v1/health/live')).status).toBe(200);
    const user = await createUser(app);
    expect((await app.request('/api/v1/projects', { headers: user.auth })).status).toBe(200);
    expect(app.logs.some((l) => l.msg === 'qdrant unreachable at start; serving without it and retrying in the background')).toBe(true);

    const search = vectorsOf(app).search(scopeFor(user.id, 'en'), { vector: randomVector(seeded(1)) });
    await expect(search).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(search).rejects.toMatchObject({ details: { service: 'qdrant' } });
  });

  it('when Qdrant comes back after an unreachable start, the bootstrap completes in the background and readiness recovers with no restart', async () => {
    standIn = await QdrantStandIn.start();
    await standIn.stop();
    const app = await start();

    await standIn.restart();
    // No health request meanwhile: the background retry alone must finish the bootstrap.
    await expect.poll(() => standIn.requestsTo('create_field_index').length, { timeout: 8_000, interval: 100 }).toBe(2);
    expect((await qdrantHealth(app)).ready).toBe(200);
    expect(standIn.requestsTo('create_collection')).toHaveLength(1);
    expect(standIn.requestsTo('create_field_index')).toHaveLength(2);
    const scope = scopeFor(randomUUID(), 'en');
    await vectorsOf(app).upsert(scope, [{ vector: randomVector(seeded(2)), type: 'memory', contentHash: 'back' }]);
    expect(await vectorsOf(app).count(scope)).toBe(1);
  });

  it('when Qdrant stops under a running app, readiness turns 503 with qdrant unhealthy, and returns to 200 when Qdrant does', async () => {
    standIn = await QdrantStandIn.start();
    const app = await start();
    expect((await qdrantHealth(app)).ready).toBe(200);

    await standIn.stop();
    const t0 = performance.now();
    // Health results are reused for up to 1 s (docs/adr/0011-rate-limit-sliding-log.md).
    await expect.poll(async () => (await qdrantHealth(app)).ready, { timeout: 3_000, interval: 50 }).toBe(503);
    expect(await qdrantHealth(app)).toMatchObject({
      ready: 503,
      qdrant: { status: 'unhealthy', error: expect.stringMatching(/ECONNREFUSED/) },
    });
    expect(performance.now() - t0).toBeLessThan(2_500);

    await standIn.restart();
    await expect.poll(async () => (await qdrantHealth(app)).ready, { timeout: 3_000, interval: 50 }).toBe(200);
  });
});

describe('project deletion and its vectors (against a Qdrant 1.15 OpenAPI-validated stand-in)', () => {
  it('when a project is deleted through the API, its vectors are deleted by a project_id + language filter and other projects keep theirs', async () => {
    standIn = await QdrantStandIn.start();
    const app = await start();
    const owner = await createUser(app);
    const doomed = await createProject(app, owner, 'Doomed', 'fr');
    const kept = await createProject(app, owner, 'Kept', 'fr');
    const random = seeded(3);
    await vectorsOf(app).upsert(scopeFor(doomed.id, 'fr'), [
      { vector: randomVector(random), type: 'knowledge', documentType: 'about', contentHash: 'a' },
      { vector: randomVector(random), type: 'memory', contentHash: 'b' },
    ]);
    await vectorsOf(app).upsert(scopeFor(kept.id, 'fr'), [{ vector: randomVector(random), type: 'memory', contentHash: 'a' }]);

    const res = await app.request(`/api/v1/projects/${doomed.id}`, { method: 'DELETE', headers: owner.auth });
    expect(res.status).toBe(204);

    expect(standIn.requestsTo('delete_points').map((r) => r.body)).toEqual([
      {
        filter: {
          must: [
            { key: 'project_id', match: { value: doomed.id } },
            { key: 'language', match: { value: 'fr' } },
          ],
        },
      },
    ]);
    expect(await vectorsOf(app).count(scopeFor(doomed.id, 'fr'))).toBe(0);
    expect(await vectorsOf(app).count(scopeFor(kept.id, 'fr'))).toBe(1);
  });

  it('when Qdrant is down at project deletion, the deletion still succeeds (204), a warning is logged, and the vectors go once Qdrant returns', async () => {
    standIn = await QdrantStandIn.start();
    const app = await start();
    const owner = await createUser(app);
    const project = await createProject(app, owner, 'Deleted during an outage');
    await vectorsOf(app).upsert(scopeFor(project.id, 'en'), [{ vector: randomVector(seeded(4)), type: 'memory', contentHash: 'x' }]);
    const pointsOfProject = () =>
      [...(standIn.collections.values().next().value?.points.values() ?? [])].filter((p) => p.payload.project_id === project.id).length;
    expect(pointsOfProject()).toBe(1);

    await standIn.stop();
    const t0 = performance.now();
    const res = await app.request(`/api/v1/projects/${project.id}`, { method: 'DELETE', headers: owner.auth });
    expect(res.status).toBe(204);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect((await app.request(`/api/v1/projects/${project.id}`, { headers: owner.auth })).status).toBe(403);
    expect(app.logs.find((l) => l.msg === 'vector deletion of a deleted project deferred; retrying in the background')).toMatchObject({
      level: 'warn',
      project_id: project.id,
    });

    await standIn.restart();
    await expect.poll(pointsOfProject, { timeout: 8_000, interval: 100 }).toBe(0);
    // The line follows Qdrant's answer, which may still be on its way when the points are gone.
    await expect
      .poll(() => app.logs.some((l) => l.msg === 'deferred vector deletion completed' && l.project_id === project.id), { timeout: 2_000 })
      .toBe(true);
  });

  it('when Qdrant is down at deletion and the app restarts before Qdrant returns, the deletion owed survives the restart: the new process purges the vectors once Qdrant is back', async () => {
    standIn = await QdrantStandIn.start();
    const collection = `jeex_${randomBytes(5).toString('hex')}`;
    const first = await start(collection);
    const owner = await createUser(first);
    const project = await createProject(first, owner, 'Deleted, then a restart', 'de');
    const kept = await createProject(first, owner, 'Kept', 'de');
    await vectorsOf(first).upsert(scopeFor(project.id, 'de'), [{ vector: randomVector(seeded(5)), type: 'memory', contentHash: 'x' }]);
    await vectorsOf(first).upsert(scopeFor(kept.id, 'de'), [{ vector: randomVector(seeded(6)), type: 'memory', contentHash: 'x' }]);
    const pointsOf = (projectId: string) =>
      [...(standIn.collections.get(collection)?.points.values() ?? [])].filter((p) => p.payload.project_id === projectId).length;
    expect(pointsOf(project.id)).toBe(1);

    await standIn.stop();
    expect((await first.request(`/api/v1/projects/${project.id}`, { method: 'DELETE', headers: owner.auth })).status).toBe(204);
    await first.close();
    running.splice(running.indexOf(first), 1);

    // A new process, Qdrant still away: it finds the deletion owed and tries it (and fails).
    const second = await start(collection);
    await expect
      .poll(() => second.logs.some((l) => l.msg === 'deferred vector deletion failed; retrying later' && l.project_id === project.id), {
        timeout: 10_000,
        interval: 50,
      })
      .toBe(true);
    await standIn.restart();
    await expect.poll(() => pointsOf(project.id), { timeout: 20_000, interval: 100 }).toBe(0);
    expect(pointsOf(kept.id)).toBe(1);
    await expect
      .poll(() => second.logs.some((l) => l.msg === 'deferred vector deletion completed' && l.project_id === project.id), {
        timeout: 2_000,
      })
      .toBe(true);
    await expect
      .poll(async () => (await sql`select project_id from vector_purges`.execute(second.app.db)).rows, { timeout: 2_000 })
      .toEqual([]);
  }, 40_000);
});

import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { QdrantStandIn } from '../../helpers/qdrant-stand-in.js';

let db: TestDatabase;
let standIn: QdrantStandIn;
const running: RunningApp[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  standIn = await QdrantStandIn.start();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
  expect(standIn.takeViolations()).toEqual([]);
});

afterAll(async () => {
  await standIn?.stop();
  await db?.drop();
});

const collectionName = () => `jeex_${randomBytes(5).toString('hex')}`;

async function start(collection: string, extra: Record<string, string> = {}): Promise<RunningApp> {
  const app = await startApp({
    DATABASE_URL: db.url,
    QDRANT_URL: standIn.url,
    QDRANT_COLLECTION: collection,
    QDRANT_VECTOR_SIZE: '8',
    ...extra,
  });
  running.push(app);
  return app;
}

type Health = {
  status: string;
  components: Array<{ name: string; status: string; error: string | null; details: Record<string, unknown> | null }>;
};

async function qdrantComponent(app: RunningApp) {
  const body = (await (await app.request('/api/v1/health')).json()) as Health;
  return body.components.find((c) => c.name === 'qdrant');
}

describe('vector store bootstrap (against a Qdrant 1.15 OpenAPI-validated stand-in)', () => {
  it('when the collection is absent, start-up creates it with QDRANT_VECTOR_SIZE and Cosine, and both payload indexes', async () => {
    const name = collectionName();
    const app = await start(name);

    expect(standIn.requestsTo('create_collection').map((r) => r.body)).toEqual([{ vectors: { size: 8, distance: 'Cosine' } }]);
    expect(standIn.requestsTo('create_field_index').map((r) => r.body)).toEqual([
      { field_name: 'project_id', field_schema: { type: 'keyword', is_tenant: true } },
      { field_name: 'language', field_schema: { type: 'keyword' } },
    ]);
    expect(standIn.collections.get(name)).toMatchObject({ size: 8, distance: 'Cosine' });
    expect(await qdrantComponent(app)).toMatchObject({
      status: 'healthy',
      details: { collection: name, vector_size: 8, distance: 'Cosine', bootstrap: 'complete' },
    });
    expect((await app.request('/api/v1/health/ready')).status).toBe(200);
  });

  it('when the collection is present and matching, start-up only reads it: nothing is created or changed', async () => {
    const name = collectionName();
    standIn.seedCollection(name, { size: 8 });
    const app = await start(name);
    expect(standIn.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect((await qdrantComponent(app))?.status).toBe('healthy');
  });

  it('when the indexes are missing from an existing collection, start-up adds them', async () => {
    const name = collectionName();
    standIn.seedCollection(name, { size: 8, indexes: false });
    await start(name);
    expect(standIn.requestsTo('create_collection')).toEqual([]);
    expect(standIn.requestsTo('create_field_index')).toHaveLength(2);
    expect(standIn.collections.get(name)?.payloadSchema.project_id?.params).toEqual({ type: 'keyword', is_tenant: true });
  });

  it('when the collection has another vector size, start-up is refused with an error naming both sizes', async () => {
    const name = collectionName();
    standIn.seedCollection(name, { size: 16 });
    await expect(start(name)).rejects.toThrow(
      new RegExp(`"${name}" has size 16 and distance Cosine, but this service needs size 8 and distance Cosine`),
    );
  });

  it('when the collection has another distance, start-up is refused with an error naming both distances', async () => {
    const name = collectionName();
    standIn.seedCollection(name, { size: 8, distance: 'Dot' });
    await expect(start(name)).rejects.toThrow(/has size 8 and distance Dot, but this service needs size 8 and distance Cosine/);
  });

  it('when another instance creates the collection first (409 already exists), start-up counts it as success', async () => {
    const name = collectionName();
    standIn.beforeCreate = (n) => standIn.seedCollection(n, { size: 8, indexes: false });
    const app = await start(name);
    expect(standIn.requestsTo('create_collection')).toHaveLength(1);
    expect(standIn.requestsTo('create_field_index')).toHaveLength(2);
    expect((await qdrantComponent(app))?.status).toBe('healthy');
  });

  it('when three instances start at once against an empty Qdrant, all become ready on one collection', async () => {
    const name = collectionName();
    const apps = await Promise.all([start(name), start(name), start(name)]);
    for (const app of apps) expect((await app.request('/api/v1/health/ready')).status).toBe(200);
    expect(standIn.collections.get(name)?.payloadSchema).toMatchObject({
      project_id: { data_type: 'keyword' },
      language: { data_type: 'keyword' },
    });
  });

  it('when QDRANT_API_KEY is set, every request to Qdrant carries it in the api-key header', async () => {
    await start(collectionName(), { QDRANT_API_KEY: 'secret-key-123' });
    expect(standIn.requests.length).toBeGreaterThan(0);
    for (const request of standIn.requests) expect(request.headers['api-key']).toBe('secret-key-123');
  });

  it('when the collection disappears under a running app, health reports it and the next check bootstraps it again', async () => {
    const name = collectionName();
    const app = await start(name);
    standIn.collections.delete(name);
    expect(await qdrantComponent(app)).toMatchObject({ status: 'unhealthy', error: `collection ${name} is missing` });
    await expect.poll(async () => (await qdrantComponent(app))?.status, { timeout: 5_000 }).toBe('healthy');
    expect(standIn.collections.get(name)?.size).toBe(8);
  });
});

describe('vector store without QDRANT_URL', () => {
  it('reports qdrant as disabled, stays ready, and has no vector repository', async () => {
    const app = await startApp({ DATABASE_URL: db.url });
    running.push(app);
    expect(await qdrantComponent(app)).toMatchObject({ status: 'disabled' });
    expect((await app.request('/api/v1/health/ready')).status).toBe(200);
    expect(app.app.vectors).toBeNull();
  });
});

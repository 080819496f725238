import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scopedFilter } from '../../../src/access/vector-scope.js';
import { ServiceUnavailableError, ValidationError } from '../../../src/lib/errors.js';
import { QdrantStandIn } from '../../helpers/qdrant-stand-in.js';
import {
  filterGenerator,
  hostileFilters,
  type OpenedRepository,
  openRepository,
  randomVector,
  scopeFor,
  seeded,
} from '../../helpers/vector-fixtures.js';
import { repositoryContract } from './vectors-repository.contract.js';

let standIn: QdrantStandIn;
beforeAll(async () => {
  standIn = await QdrantStandIn.start();
});
afterAll(() => standIn?.stop());

/*
 * The live suite exists only when QDRANT_TEST_URL points at a real Qdrant (README "Vector
 * store"); otherwise it is not registered at all, so it never shows up as skipped.
 */
const liveUrl = process.env.QDRANT_TEST_URL;
const targets = [
  { title: 'vector repository (against a Qdrant 1.15 OpenAPI-validated stand-in)', url: () => standIn.url },
  ...(liveUrl ? [{ title: `vector repository (against the real Qdrant at QDRANT_TEST_URL=${liveUrl})`, url: () => liveUrl }] : []),
];
for (const target of targets) {
  describe(target.title, () => {
    afterEach(() => {
      expect(standIn.takeViolations()).toEqual([]);
    });
    repositoryContract(target.url);
  });
}

describe('vector repository on the wire (against a Qdrant 1.15 OpenAPI-validated stand-in)', () => {
  let opened: OpenedRepository;
  const fast = { retries: 3, minTimeoutMs: 10, maxRetryTimeMs: 5_000 };

  beforeAll(async () => {
    opened = await openRepository(standIn.url, { retry: fast });
    await opened.collection.ensureReady();
  });
  afterAll(() => opened?.close());
  afterEach(() => {
    expect(standIn.takeViolations()).toEqual([]);
  });

  it('when a caller adds any filter (200 random ones), every search, count and delete body starts its must with the scope’s project_id and language, and the caller’s filter only nested inside it', async () => {
    const random = seeded(42);
    const own = scopeFor(randomUUID(), 'en');
    const other = { projectId: randomUUID(), language: 'fr' };
    const ids = await opened.repo.upsert(own, [{ vector: randomVector(random), type: 'memory', contentHash: 'x' }]);
    const next = filterGenerator(random, { projectIds: [own.projectId, other.projectId], languages: ['en', 'fr'], ids, hashes: ['x'] });
    const filters = [...hostileFilters(other, own), ...Array.from({ length: 200 }, next)];
    standIn.requests.length = 0;
    for (const filter of filters) {
      await opened.repo.search(own, { vector: randomVector(random), filter });
      await opened.repo.count(own, filter);
      await opened.repo.delete(own, { filter });
    }
    await opened.repo.delete(own, { ids });
    await opened.repo.deleteAllForProject(own);

    const scoped = standIn.requests.filter((r) => ['query_points', 'count_points', 'delete_points'].includes(r.operationId ?? ''));
    expect(scoped).toHaveLength(filters.length * 3 + 2);
    for (const request of scoped) {
      const body = request.body as { filter?: { must?: unknown[] } };
      expect(Object.keys(body.filter ?? {}), request.operationId ?? '').toEqual(['must']);
      expect(body.filter?.must?.slice(0, 2)).toEqual([
        { key: 'project_id', match: { value: own.projectId } },
        { key: 'language', match: { value: 'en' } },
      ]);
    }
  });

  it('scopedFilter keeps the scope first and nests the caller’s filter whole, whatever its shape', () => {
    const scope = scopeFor(randomUUID(), 'de');
    const caller = { should: [{ key: 'project_id', match: { value: 'other' } }], must_not: [{ key: 'language', match: { value: 'de' } }] };
    expect(scopedFilter(scope, [], caller)).toEqual({
      must: [{ key: 'project_id', match: { value: scope.projectId } }, { key: 'language', match: { value: 'de' } }, caller],
    });
  });

  it('when a vector has the wrong length, nothing is sent to Qdrant', async () => {
    const scope = scopeFor(randomUUID(), 'en');
    await expect(opened.repo.upsert(scope, [{ vector: [1, 2], type: 'memory', contentHash: 'x' }])).rejects.toBeInstanceOf(ValidationError);
    await expect(opened.repo.search(scope, { vector: [] })).rejects.toBeInstanceOf(ValidationError);
    await expect(
      opened.repo.upsert(scope, [{ vector: Array(8).fill(Number.NaN), type: 'memory', contentHash: 'x' }]),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(standIn.requests).toEqual([]);
  });

  it('when Qdrant answers 503 twice, the call is retried with backoff and succeeds', async () => {
    standIn.fault = { status: 503, remaining: 2 };
    await opened.repo.upsert(scopeFor(randomUUID(), 'en'), [{ vector: randomVector(seeded(1)), type: 'memory', contentHash: 'x' }]);
    expect(standIn.requestsTo('upsert_points')).toHaveLength(3);
  });

  it('when Qdrant keeps answering 503, the call fails with service_unavailable (qdrant) after 1 + 3 retries', async () => {
    standIn.fault = { status: 503, remaining: 100 };
    const search = opened.repo.search(scopeFor(randomUUID(), 'en'), { vector: randomVector(seeded(2)) });
    await expect(search).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(search).rejects.toMatchObject({ statusCode: 503, code: 'service_unavailable', details: { service: 'qdrant' } });
    expect(standIn.requestsTo('query_points')).toHaveLength(4);
  });

  it('when Qdrant rejects the request (4xx), it is not retried and is not reported as unavailable', async () => {
    standIn.fault = { status: 400, remaining: 1 };
    const count = opened.repo.count(scopeFor(randomUUID(), 'en'));
    await expect(count).rejects.not.toBeInstanceOf(ServiceUnavailableError);
    await expect(count).rejects.toMatchObject({ status: 400 });
    expect(standIn.requestsTo('count_points')).toHaveLength(1);
  });

  it('when Qdrant is slower than the client timeout, each attempt is cut off and retried, then service_unavailable', async () => {
    const impatient = await openRepository(standIn.url, { timeoutMs: 200, retry: fast });
    try {
      await impatient.collection.ensureReady();
      standIn.delayMs = 400;
      const t0 = performance.now();
      await expect(impatient.repo.count(scopeFor(randomUUID(), 'en'))).rejects.toBeInstanceOf(ServiceUnavailableError);
      expect(standIn.requestsTo('count_points')).toHaveLength(4);
      expect(performance.now() - t0).toBeLessThan(4 * 400);
    } finally {
      standIn.delayMs = 0;
      await impatient.close();
    }
  });

  it('when the server ignores the filter and returns other projects’ points, search drops them (defence in depth)', async () => {
    const random = seeded(3);
    const own = scopeFor(randomUUID(), 'en');
    const other = scopeFor(randomUUID(), 'en');
    const [ownId] = await opened.repo.upsert(own, [{ vector: randomVector(random), type: 'memory', contentHash: 'x' }]);
    await opened.repo.upsert(other, [{ vector: randomVector(random), type: 'memory', contentHash: 'x' }]);
    standIn.ignoreFilters = true;
    const hits = await opened.repo.search(own, { vector: randomVector(random), limit: 100 });
    expect(hits.map((h) => h.id)).toEqual([ownId]);
  });
});

describe('vector repository when Qdrant is down (against a Qdrant 1.15 OpenAPI-validated stand-in)', () => {
  it('when connections are refused, calls fail with service_unavailable (qdrant) after the retries, within about a second', async () => {
    const down = await QdrantStandIn.start();
    const opened = await openRepository(down.url);
    await down.stop();
    try {
      const t0 = performance.now();
      const search = opened.repo.search(scopeFor(randomUUID(), 'en'), { vector: randomVector(seeded(4)) });
      await expect(search).rejects.toMatchObject({ code: 'service_unavailable', details: { service: 'qdrant' } });
      // Default policy: 3 retries at 100, 200, 400 ms.
      const took = performance.now() - t0;
      expect(took).toBeGreaterThanOrEqual(650);
      expect(took).toBeLessThan(2_000);
    } finally {
      await opened.close();
    }
  });
});

describe('the stand-in itself (Qdrant 1.15 OpenAPI validation)', () => {
  it('flags a request outside Qdrant 1.15’s API: unknown route, unknown method, body against the schema, undeclared query or property', async () => {
    const probe = await QdrantStandIn.start();
    try {
      const post = (path: string, body: unknown, method = 'POST') =>
        fetch(`${probe.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await post('/collections/c/points/nearest', {});
      await post('/collections/c/points/query', {}, 'PATCH');
      await post('/collections/c/points/query', { filter: { must: [], everything: true } });
      await post('/collections/c', { vectors: { size: 8, distance: 'cosine' } }, 'PUT');
      await post('/collections/c/points/delete?wait=true&flush=now', { points: [] });
      await post('/collections/c/index', { field_name: 'project_id', field_schema: { type: 'keyword', tenant: true } }, 'PUT');
      expect(probe.violations).toHaveLength(6);
      const [route, method, filter, create, query, undeclared] = probe.violations;
      expect(route).toMatch(/POST \/collections\/c\/points\/nearest is not an operation/);
      expect(method).toMatch(/PATCH \/collections\/c\/points\/query is not an operation/);
      expect(filter).toMatch(/query_points request body: body\/filter must NOT have additional properties/);
      expect(create).toMatch(/create_collection request body: body\/vectors\/distance must be equal to one of the allowed values/);
      expect(query).toMatch(/query parameter "flush" is not declared by delete_points/);
      // A property 1.15 does not declare (a misspelt is_tenant) would be ignored by Qdrant: flagged.
      expect(undeclared).toMatch(/create_field_index request body: .*must NOT have additional properties/);
    } finally {
      await probe.stop();
    }
  });
});

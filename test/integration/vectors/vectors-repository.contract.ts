import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { VectorInput, VectorScope } from '../../../src/access/vector-scope.js';
import { ValidationError } from '../../../src/lib/errors.js';
import type { VectorsRepository } from '../../../src/repositories/vectors.repository.js';
import {
  filterGenerator,
  hostileFilters,
  type OpenedRepository,
  openRepository,
  randomVector,
  scopeFor,
  seeded,
} from '../../helpers/vector-fixtures.js';

/*
 * What the vector repository promises, as behaviour only (no look at the wire), so the same
 * tests run against the schema-validated stand-in and, when QDRANT_TEST_URL is set, a real Qdrant.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const unit = (i: number) => Array.from({ length: 8 }, (_, j) => (j === i ? 1 : 0.05));

function inputs(count: number, random: () => number): VectorInput[] {
  const types = ['knowledge', 'memory', 'agent_context'] as const;
  return Array.from({ length: count }, (_, i) => ({
    vector: randomVector(random),
    type: types[i % 3] ?? 'knowledge',
    documentType: i % 2 === 0 ? 'about' : null,
    contentHash: `hash-${i}`,
  }));
}

async function seedScopes(repo: VectorsRepository, scopes: VectorScope[], random: () => number): Promise<string[]> {
  const ids: string[] = [];
  for (const scope of scopes) ids.push(...(await repo.upsert(scope, inputs(4, random))));
  return ids;
}

export function repositoryContract(url: () => string): void {
  let opened: OpenedRepository;
  let repo: VectorsRepository;

  beforeAll(async () => {
    opened = await openRepository(url());
    await opened.collection.ensureReady();
    repo = opened.repo;
  });
  afterAll(() => opened?.close());

  it('when vectors are upserted, a search in the same scope returns them best first with the full payload', async () => {
    const scope = scopeFor(randomUUID(), 'en');
    const ids = await repo.upsert(scope, [
      { vector: unit(0), type: 'knowledge', documentType: 'about', contentHash: 'h-about' },
      { vector: unit(1), type: 'memory', contentHash: 'h-memory' },
    ]);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(UUID);

    const hits = await repo.search(scope, { vector: unit(0), limit: 10 });
    expect(hits.map((h) => h.id)).toEqual(ids);
    expect(hits[0]?.payload).toMatchObject({
      project_id: scope.projectId,
      language: 'en',
      type: 'knowledge',
      document_type: 'about',
      content_hash: 'h-about',
    });
    expect(hits[1]?.payload.document_type).toBeNull();
    expect(Number.isNaN(Date.parse(hits[0]?.payload.created_at ?? ''))).toBe(false);
    expect(await repo.search(scope, { vector: unit(0), type: 'memory' })).toHaveLength(1);
  });

  it('when the same content is upserted twice, it stays one point (ids derive from scope and content)', async () => {
    const scope = scopeFor(randomUUID(), 'en');
    const input: VectorInput = { vector: unit(2), type: 'memory', contentHash: 'same' };
    const [first] = await repo.upsert(scope, [input]);
    const [second] = await repo.upsert(scope, [input]);
    expect(second).toBe(first);
    expect(await repo.count(scope)).toBe(1);
  });

  it('when a caller adds any filter (hostile ones and 200 random ones), search and count never reach another project or language', async () => {
    const random = seeded(20261125);
    const [projectA, projectB] = [randomUUID(), randomUUID()];
    const own = scopeFor(projectA, 'en');
    const others = [scopeFor(projectA, 'fr'), scopeFor(projectB, 'en'), scopeFor(projectB, 'fr')];
    const ownIds = new Set(await seedScopes(repo, [own], random));
    const ids = [...ownIds, ...(await seedScopes(repo, others, random))];
    const next = filterGenerator(random, {
      projectIds: [projectA, projectB, randomUUID()],
      languages: ['en', 'fr', 'de'],
      ids,
      hashes: ['hash-0', 'hash-1'],
    });
    const filters = [
      ...hostileFilters({ projectId: projectB, language: 'fr' }, { projectId: projectA, language: 'en' }),
      ...Array.from({ length: 200 }, next),
    ];

    let returned = 0;
    for (const filter of filters) {
      const hits = await repo.search(own, { vector: randomVector(random), limit: 50, filter });
      for (const hit of hits) expect(ownIds.has(hit.id), JSON.stringify(filter)).toBe(true);
      // count has no client-side safety net: it shows what the server itself matched.
      expect(await repo.count(own, filter), JSON.stringify(filter)).toBe(hits.length);
      returned += hits.length;
    }
    // Guards against a vacuous pass (every filter matching nothing).
    expect(returned).toBeGreaterThan(50);
  });

  it('when a caller deletes with any filter (hostile ones and 50 random ones), only the scope’s own vectors go', async () => {
    const random = seeded(7);
    const [projectA, projectB] = [randomUUID(), randomUUID()];
    const own = scopeFor(projectA, 'en');
    const others = [scopeFor(projectA, 'de'), scopeFor(projectB, 'en')];
    const ownInputs = inputs(4, random);
    const ids = [...(await repo.upsert(own, ownInputs)), ...(await seedScopes(repo, others, random))];
    const next = filterGenerator(random, { projectIds: [projectA, projectB], languages: ['en', 'de'], ids, hashes: ['hash-0', 'hash-3'] });
    for (const filter of [...hostileFilters({ projectId: projectB, language: 'de' }, own), ...Array.from({ length: 50 }, next)]) {
      await repo.delete(own, { filter });
      for (const other of others) expect(await repo.count(other), JSON.stringify(filter)).toBe(4);
      await repo.upsert(own, ownInputs);
    }
  });

  it('when deleting by ids that include another project’s, only the scope’s own point goes', async () => {
    const own = scopeFor(randomUUID(), 'en');
    const other = scopeFor(randomUUID(), 'en');
    const ownIds = await repo.upsert(own, [
      { vector: unit(0), type: 'memory', contentHash: 'a' },
      { vector: unit(1), type: 'memory', contentHash: 'b' },
    ]);
    const [otherId = ''] = await repo.upsert(other, [{ vector: unit(0), type: 'memory', contentHash: 'a' }]);
    await repo.delete(own, { ids: [otherId, ownIds[0] ?? ''] });
    expect(await repo.count(own)).toBe(1);
    expect(await repo.count(other)).toBe(1);
  });

  it('when a project is purged, its vectors go and other projects keep theirs', async () => {
    const own = scopeFor(randomUUID(), 'en');
    const other = scopeFor(randomUUID(), 'en');
    await repo.upsert(own, inputs(3, seeded(1)));
    await repo.upsert(other, inputs(2, seeded(2)));
    await repo.deleteAllForProject(own);
    expect(await repo.count(own)).toBe(0);
    expect(await repo.count(other)).toBe(2);
  });

  it('when a vector has the wrong length, upsert and search refuse it with a validation error and nothing is stored', async () => {
    const scope = scopeFor(randomUUID(), 'en');
    const upsert = repo.upsert(scope, [{ vector: [0.1, 0.2, 0.3], type: 'knowledge', contentHash: 'short' }]);
    await expect(upsert).rejects.toBeInstanceOf(ValidationError);
    await expect(upsert).rejects.toMatchObject({
      details: { errors: [{ path: 'points/0/vector', message: expect.stringMatching(/has 3 .* expects 8/) }] },
    });
    await expect(repo.search(scope, { vector: Array(9).fill(0.1) })).rejects.toBeInstanceOf(ValidationError);
    expect(await repo.count(scope)).toBe(0);
  });
}

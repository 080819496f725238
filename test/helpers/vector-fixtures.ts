import { randomBytes, randomUUID } from 'node:crypto';
import type { Schemas } from '@qdrant/js-client-rest';
import pino from 'pino';
import { grantScope } from '../../src/access/project-scope.js';
import { VECTOR_TYPES, type VectorFilter, type VectorScope, vectorScopeOf } from '../../src/access/vector-scope.js';
import { DOCUMENT_TYPES } from '../../src/db/types.js';
import { createQdrantClient } from '../../src/plugins/infra/qdrant.js';
import { VectorCollection } from '../../src/repositories/vector-collection.js';
import { type RetryPolicy, VectorsRepository } from '../../src/repositories/vectors.repository.js';

/** Small vectors keep the tests fast; the size only has to be consistent. */
export const TEST_VECTOR_SIZE = 8;

export interface OpenedRepository {
  readonly repo: VectorsRepository;
  readonly collection: VectorCollection;
  readonly name: string;
  /** Drops the test collection (live runs) and stops timers. */
  readonly close: () => Promise<void>;
}

/** A repository on a fresh collection of its own at `url` (the stand-in or a real Qdrant). */
export async function openRepository(
  url: string,
  opts: { timeoutMs?: number; retry?: Partial<RetryPolicy> } = {},
): Promise<OpenedRepository> {
  const log = pino({ level: 'silent' });
  const client = createQdrantClient({ url, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  const name = `jeex_test_${randomBytes(5).toString('hex')}`;
  const collection = new VectorCollection(client, { name, vectorSize: TEST_VECTOR_SIZE }, { log });
  const repo = new VectorsRepository(collection, { log, ...(opts.retry ? { retry: opts.retry } : {}) });
  return {
    repo,
    collection,
    name,
    close: async () => {
      collection.close();
      await client.deleteCollection(name).catch(() => undefined);
    },
  };
}

export function scopeFor(projectId: string, language: string): VectorScope {
  return vectorScopeOf(grantScope({ projectId, userId: randomUUID(), role: 'owner', language }));
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing case can be replayed by seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomVector(random: () => number): number[] {
  return Array.from({ length: TEST_VECTOR_SIZE }, () => random() * 2 - 1);
}

type Condition = Schemas['Condition'];

/**
 * Random caller filters, biased towards attacks: conditions naming the other project or
 * language, in `should`, `must_not`, `min_should`, nested filters, `has_id` with foreign ids.
 */
export function filterGenerator(
  random: () => number,
  pools: { projectIds: string[]; languages: string[]; ids: string[]; hashes: string[] },
) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const some = <T>(xs: readonly T[]): T[] => [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(xs)))];
  const values: Record<string, readonly string[]> = {
    project_id: pools.projectIds,
    language: pools.languages,
    type: VECTOR_TYPES,
    content_hash: pools.hashes,
    document_type: DOCUMENT_TYPES,
  };
  const keys = Object.keys(values);

  const condition = (depth: number): Condition => {
    const kind = Math.floor(random() * (depth < 2 ? 7 : 5));
    const key = pick(keys);
    const pool = values[key] ?? [];
    switch (kind) {
      case 0:
        return { key, match: { value: pick(pool) } };
      case 1:
        return { key, match: { any: some(pool) } };
      case 2: {
        // `except` only on fields every point has (see qdrant-filter.ts).
        const always = pick(['project_id', 'language', 'type']);
        return { key: always, match: { except: some(values[always] ?? []) } };
      }
      case 3:
        return { has_id: some(pools.ids) };
      case 4:
        return { is_empty: { key: pick(['document_type', 'project_id', 'language']) } };
      default:
        return filter(depth + 1);
    }
  };
  const clause = (depth: number): Condition | Condition[] => {
    const list = Array.from({ length: Math.floor(random() * 3) + 1 }, () => condition(depth));
    return random() < 0.2 && list[0] ? list[0] : list;
  };
  const filter = (depth: number): VectorFilter => {
    const f: VectorFilter = {};
    if (random() < 0.6) f.must = clause(depth);
    if (random() < 0.6) f.should = clause(depth);
    if (random() < 0.5) f.must_not = clause(depth);
    if (random() < 0.2) {
      const conditions = Array.from({ length: 2 }, () => condition(depth));
      f.min_should = { conditions, min_count: 1 };
    }
    return f;
  };
  return () => filter(0);
}

/** Filters written to escape the scope outright; they run before the random ones. */
export function hostileFilters(
  other: { projectId: string; language: string },
  own: { projectId: string; language: string },
): VectorFilter[] {
  return [
    { should: [{ key: 'project_id', match: { value: other.projectId } }] },
    { must: [{ key: 'project_id', match: { value: other.projectId } }] },
    { must_not: [{ key: 'project_id', match: { value: own.projectId } }] },
    { must_not: [{ key: 'language', match: { value: own.language } }] },
    { should: [{ key: 'language', match: { any: [own.language, other.language] } }] },
    { min_should: { conditions: [{ key: 'project_id', match: { value: other.projectId } }], min_count: 1 } },
    { must: [{ should: [{ key: 'project_id', match: { except: [own.projectId] } }] }] },
    {},
  ];
}

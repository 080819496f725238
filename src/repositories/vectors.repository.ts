import type { Schemas } from '@qdrant/js-client-rest';
import type { FastifyBaseLogger } from 'fastify';
import pRetry from 'p-retry';
import {
  pointIdOf,
  scopedFilter,
  VECTOR_TYPES,
  type VectorFilter,
  type VectorInput,
  type VectorPayload,
  type VectorScope,
  type VectorType,
} from '../access/vector-scope.js';
import { DOCUMENT_TYPES } from '../db/types.js';
import { ServiceUnavailableError, ValidationError, type ValidationIssue } from '../lib/errors.js';
import { throttledWarning } from '../lib/throttled-warning.js';
import { isUuid } from '../lib/uuid.js';
import {
  CollectionMismatchError,
  describeQdrantError,
  httpStatusOf,
  isTransientQdrantError,
  type VectorCollection,
} from './vector-collection.js';

type Condition = Schemas['Condition'];

export interface VectorHit {
  readonly id: string;
  readonly score: number;
  readonly payload: VectorPayload;
}

export interface SearchQuery {
  readonly vector: readonly number[];
  /** 1–1000, default 10. */
  readonly limit?: number;
  readonly type?: VectorType;
  /** Extra conditions; they narrow the scope's filter, never replace it. */
  readonly filter?: VectorFilter;
  readonly scoreThreshold?: number;
}

export interface DeleteSelector {
  readonly ids?: readonly string[];
  readonly filter?: VectorFilter;
}

export interface RetryPolicy {
  readonly retries: number;
  readonly minTimeoutMs: number;
  readonly maxRetryTimeMs: number;
}

export interface VectorsRepositoryOptions {
  readonly log: FastifyBaseLogger;
  readonly retry?: Partial<RetryPolicy>;
}

const DEFAULT_RETRY: RetryPolicy = { retries: 3, minTimeoutMs: 100, maxRetryTimeMs: 5_000 };

/** Vectors by project and language (issue 7, SEC-002). Every method takes the VectorScope first. */
export class VectorsRepository {
  private readonly retry: RetryPolicy;
  private readonly log: FastifyBaseLogger;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(
    private readonly collection: VectorCollection,
    opts: VectorsRepositoryOptions,
  ) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.log = opts.log;
    this.warn = throttledWarning(opts.log);
  }

  /** Stores the vectors (idempotent per content); returns their point ids in input order. */
  async upsert(scope: VectorScope, inputs: readonly VectorInput[]): Promise<string[]> {
    const issues = inputs.flatMap((input, i) => this.inputIssues(input, `points/${i}`));
    if (issues.length > 0) throw new ValidationError('Invalid vectors', issues);
    if (inputs.length === 0) return [];
    const createdAt = new Date().toISOString();
    const points = inputs.map((input) => {
      const payload: VectorPayload = {
        project_id: scope.projectId,
        language: scope.language,
        type: input.type,
        document_type: input.documentType ?? null,
        content_hash: input.contentHash,
        created_at: createdAt,
      };
      return { id: pointIdOf(scope, input), vector: [...input.vector], payload: { ...payload } };
    });
    await this.run('upsert', () => this.client.upsert(this.name, { wait: true, points }));
    return points.map((p) => p.id);
  }

  async search(scope: VectorScope, query: SearchQuery): Promise<VectorHit[]> {
    const limit = query.limit ?? 10;
    const issues = this.vectorIssues(query.vector, 'vector');
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) issues.push({ path: 'limit', message: 'must be an integer from 1 to 1000' });
    if (query.type !== undefined && !VECTOR_TYPES.includes(query.type)) issues.push({ path: 'type', message: 'is not a vector type' });
    if (issues.length > 0) throw new ValidationError('Invalid vector search', issues);
    const extra: Condition[] = query.type !== undefined ? [{ key: 'type', match: { value: query.type } }] : [];
    const result = await this.run('search', () =>
      this.client.query(this.name, {
        query: [...query.vector],
        filter: scopedFilter(scope, extra, query.filter),
        limit,
        with_payload: true,
        ...(query.scoreThreshold !== undefined ? { score_threshold: query.scoreThreshold } : {}),
      }),
    );
    const hits = result.points.map((p) => ({ id: String(p.id), score: p.score, payload: (p.payload ?? {}) as unknown as VectorPayload }));
    // Defence in depth: the filter already confines the search; a point outside the scope here
    // would mean the server ignored it, and is dropped rather than handed to an agent.
    const inScope = hits.filter((h) => h.payload.project_id === scope.projectId && h.payload.language === scope.language);
    if (inScope.length !== hits.length) {
      this.log.error({ project_id: scope.projectId, dropped: hits.length - inScope.length }, 'qdrant returned points outside the scope');
    }
    return inScope;
  }

  async count(scope: VectorScope, filter?: VectorFilter): Promise<number> {
    const result = await this.run('count', () => this.client.count(this.name, { filter: scopedFilter(scope, [], filter), exact: true }));
    return result.count;
  }

  /** Deletes the given points and/or those matching the filter, within the scope; one of them is required. */
  async delete(scope: VectorScope, selector: DeleteSelector): Promise<void> {
    const ids = selector.ids ?? [];
    const issues: ValidationIssue[] = ids.flatMap((id, i) => (isUuid(id) ? [] : [{ path: `ids/${i}`, message: 'must be a UUID' }]));
    if (ids.length === 0 && selector.filter === undefined)
      issues.push({ path: 'ids', message: 'give ids or a filter (deleteAllForProject deletes everything)' });
    if (issues.length > 0) throw new ValidationError('Invalid vector deletion', issues);
    const extra: Condition[] = ids.length > 0 ? [{ has_id: [...new Set(ids)] }] : [];
    await this.run('delete', () => this.client.delete(this.name, { wait: true, filter: scopedFilter(scope, extra, selector.filter) }));
  }

  async deleteAllForProject(scope: VectorScope): Promise<void> {
    await this.run('deleteAllForProject', () => this.client.delete(this.name, { wait: true, filter: scopedFilter(scope) }));
  }

  /**
   * For a project that is already (soft-)deleted: one attempt, no retry here — a failure is
   * the caller's to keep (the `vector_purges` queue, src/services/vector-purges.service.ts),
   * so a deletion owed survives a restart.
   */
  async purgeProject(scope: VectorScope): Promise<void> {
    await this.run('purgeProject', () => this.client.delete(this.name, { wait: true, filter: scopedFilter(scope) }), { retries: 0 });
  }

  private get client() {
    return this.collection.client;
  }

  private get name(): string {
    return this.collection.spec.name;
  }

  private vectorIssues(vector: readonly number[], path: string): ValidationIssue[] {
    const size = this.collection.spec.vectorSize;
    if (!Array.isArray(vector)) return [{ path, message: 'must be an array of numbers' }];
    if (vector.length !== size) return [{ path, message: `has ${vector.length} dimensions; the collection expects ${size}` }];
    if (!vector.every((x) => typeof x === 'number' && Number.isFinite(x))) return [{ path, message: 'must contain finite numbers only' }];
    return [];
  }

  private inputIssues(input: VectorInput, path: string): ValidationIssue[] {
    const issues = this.vectorIssues(input.vector, `${path}/vector`);
    if (!VECTOR_TYPES.includes(input.type)) issues.push({ path: `${path}/type`, message: `must be one of ${VECTOR_TYPES.join(', ')}` });
    if (input.documentType != null && !DOCUMENT_TYPES.includes(input.documentType)) {
      issues.push({ path: `${path}/documentType`, message: `must be one of ${DOCUMENT_TYPES.join(', ')} or null` });
    }
    if (typeof input.contentHash !== 'string' || input.contentHash.length === 0 || input.contentHash.length > 256) {
      issues.push({ path: `${path}/contentHash`, message: 'must be a non-empty string of at most 256 characters' });
    }
    return issues;
  }

  /**
   * Runs one Qdrant operation after the collection is bootstrapped, retrying transient failures
   * with exponential backoff; a Qdrant that stays away becomes 503 `service_unavailable`.
   * A 404 means the collection vanished: it is bootstrapped again and the operation retried.
   */
  private async run<T>(operation: string, fn: () => Promise<T>, policy: Partial<RetryPolicy> = {}): Promise<T> {
    const { retries, minTimeoutMs, maxRetryTimeMs } = { ...this.retry, ...policy };
    try {
      return await pRetry(
        async () => {
          await this.collection.ensureReady();
          try {
            return await fn();
          } catch (error) {
            if (httpStatusOf(error) === 404) this.collection.invalidate(`collection missing during ${operation}`);
            throw error;
          }
        },
        {
          retries,
          minTimeout: minTimeoutMs,
          factor: 2,
          maxRetryTime: maxRetryTimeMs,
          shouldRetry: ({ error }) => isTransientQdrantError(error) || httpStatusOf(error) === 404,
        },
      );
    } catch (error) {
      if (isTransientQdrantError(error) || httpStatusOf(error) === 404 || error instanceof CollectionMismatchError) {
        this.warn(`qdrant-${operation}`, { operation, reason: reasonOf(error) }, 'vector store unavailable');
        throw new ServiceUnavailableError('qdrant', 'The vector store is unavailable', { cause: error });
      }
      throw error;
    }
  }
}

function reasonOf(error: unknown): string {
  return error instanceof CollectionMismatchError ? error.message : describeQdrantError(error);
}

import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import type { FastifyBaseLogger } from 'fastify';
import { throttledWarning } from '../lib/throttled-warning.js';

/**
 * The one Qdrant collection of the service (issue 7): its bootstrap, and the state that the
 * health check, the repository and the background retry share. One instance per process.
 */

export interface CollectionSpec {
  readonly name: string;
  readonly vectorSize: number;
}

/** Cosine is fixed by the contract (docs/contract.md §2); only the size is configurable. */
export const DISTANCE = 'Cosine' satisfies Schemas['Distance'];

/** The payload indexes every search relies on; `project_id` is the tenant key (co-located storage). */
const INDEXES: ReadonlyArray<{ field: string; schema: Schemas['KeywordIndexParams'] }> = [
  { field: 'project_id', schema: { type: 'keyword', is_tenant: true } },
  { field: 'language', schema: { type: 'keyword' } },
];

/** A collection exists with another shape: using it would mix incomparable vectors, so start-up stops. */
export class CollectionMismatchError extends Error {
  override readonly name = 'CollectionMismatchError';
}

interface HttpStatusError {
  readonly status: number;
}

export function httpStatusOf(error: unknown): number | undefined {
  const status = (error as Partial<HttpStatusError> | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

/**
 * Failures worth retrying: the server is away (connection refused or reset, DNS), slow (the
 * client's timeout) or overloaded (5xx, 429). A 4xx is our request's fault and is not retried.
 */
export function isTransientQdrantError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'QdrantClientTimeoutError' || error.name === 'QdrantClientResourceExhaustedError') return true;
  const status = httpStatusOf(error);
  if (status !== undefined) return status >= 500 || status === 429;
  // undici reports network failures as TypeError('fetch failed') with the socket error as cause.
  const cause = error.cause as { code?: unknown } | undefined;
  if (error instanceof TypeError && error.message === 'fetch failed') return true;
  return typeof cause?.code === 'string' && NETWORK_CODES.has(cause.code);
}

/** A short, log- and health-friendly account of a client failure (the client's own messages are terse). */
export function describeQdrantError(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const status = httpStatusOf(error);
  if (status !== undefined) {
    const detail = (error as { data?: { status?: { error?: unknown } } }).data?.status?.error;
    return `HTTP ${status}${typeof detail === 'string' ? `: ${detail}` : ''}`;
  }
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `${error.message} (${code})` : error.message || error.name;
}

function describeVectors(vectors: Schemas['VectorsConfig'] | undefined): string {
  if (vectors && 'size' in vectors && typeof vectors.size === 'number') return `size ${vectors.size} and distance ${vectors.distance}`;
  return 'named vectors (no single default vector)';
}

export interface BootstrapOutcome {
  readonly created: boolean;
  readonly indexesCreated: readonly string[];
}

/**
 * Creates the collection and its payload indexes when missing, and checks an existing one.
 * Safe when several instances start at once: a concurrent creation answers 409 (Qdrant ≥ 1.8),
 * which counts as success once the winner's collection is read back and found matching;
 * creating an index that exists is a no-op in Qdrant, so no lock is needed.
 */
export async function bootstrapCollection(client: QdrantClient, spec: CollectionSpec): Promise<BootstrapOutcome> {
  let created = false;
  if (!(await client.collectionExists(spec.name)).exists) {
    try {
      await client.createCollection(spec.name, { vectors: { size: spec.vectorSize, distance: DISTANCE } });
      created = true;
    } catch (error) {
      if (httpStatusOf(error) !== 409) throw error;
    }
  }

  const info = await client.getCollection(spec.name);
  const vectors = info.config.params.vectors;
  const matches = vectors !== undefined && 'size' in vectors && vectors.size === spec.vectorSize && vectors.distance === DISTANCE;
  if (!matches) {
    throw new CollectionMismatchError(
      `Qdrant collection "${spec.name}" has ${describeVectors(vectors)}, but this service needs size ${spec.vectorSize} ` +
        `and distance ${DISTANCE} (QDRANT_VECTOR_SIZE); refusing to use it. Point QDRANT_COLLECTION at another collection ` +
        'or migrate this one.',
    );
  }

  const indexesCreated: string[] = [];
  for (const { field, schema } of INDEXES) {
    const existing = info.payload_schema[field];
    const params = existing?.params as Schemas['KeywordIndexParams'] | null | undefined;
    const ok = existing?.data_type === 'keyword' && (schema.is_tenant !== true || params?.is_tenant === true);
    if (ok) continue;
    await client.createPayloadIndex(spec.name, { field_name: field, field_schema: schema, wait: true });
    indexesCreated.push(field);
  }
  return { created, indexesCreated };
}

export interface VectorCollectionOptions {
  readonly log: FastifyBaseLogger;
  /** Background retry backoff: first delay and cap (ms). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

/**
 * Bootstrap state shared by the health check, the repository and the background retry.
 * `ensureReady` is single-flight: concurrent callers share one bootstrap attempt.
 */
export class VectorCollection {
  private ready = false;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  private problem: string | null = 'bootstrap not attempted';
  private readonly log: FastifyBaseLogger;
  private readonly warn: ReturnType<typeof throttledWarning>;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(
    readonly client: QdrantClient,
    readonly spec: CollectionSpec,
    opts: VectorCollectionOptions,
  ) {
    this.log = opts.log;
    this.warn = throttledWarning(opts.log);
    this.retryMinMs = opts.retryMinMs ?? 250;
    this.retryMaxMs = opts.retryMaxMs ?? 5_000;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Why the collection is not usable yet, or null. */
  get lastError(): string | null {
    return this.problem;
  }

  ensureReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    this.inFlight ??= this.bootstrap().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** The collection vanished (Qdrant restarted empty, someone deleted it): bootstrap again. */
  invalidate(reason: string): void {
    if (!this.ready) return;
    this.ready = false;
    this.problem = reason;
    this.log.warn({ collection: this.spec.name, reason }, 'qdrant collection lost; bootstrapping again');
    this.retryInBackground();
  }

  /** Keeps trying until the bootstrap succeeds or the app closes; timers never hold the process. */
  retryInBackground(): void {
    if (this.closed || this.ready || this.timer !== undefined) return;
    const delay = Math.min(this.retryMinMs * 2 ** this.attempt, this.retryMaxMs);
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ensureReady().catch(() => {
        // Once a minute at most: a Qdrant that stays away must not flood the log.
        this.warn('qdrant-bootstrap', { collection: this.spec.name, reason: this.problem }, 'qdrant bootstrap failed; retrying');
        this.retryInBackground();
      });
    }, delay);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async bootstrap(): Promise<void> {
    try {
      const outcome = await bootstrapCollection(this.client, this.spec);
      this.ready = true;
      this.problem = null;
      this.attempt = 0;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.log.info({ collection: this.spec.name, vector_size: this.spec.vectorSize, ...outcome }, 'qdrant collection ready');
    } catch (error) {
      this.problem = error instanceof CollectionMismatchError ? error.message : describeQdrantError(error);
      throw error;
    }
  }
}

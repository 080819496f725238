import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { cosine, filterMatches, type StoredPoint, UnsupportedCondition } from './qdrant-filter.js';
import { type MatchedOperation, QdrantOpenApi } from './qdrant-openapi.js';

/*
 * Stands in for Qdrant in the tests (no Qdrant server can run here). It is NOT Qdrant: it keeps
 * points in memory and implements only the operations the adapter uses. What makes it worth
 * testing against: every request is checked against Qdrant 1.15's own OpenAPI document (the
 * operation must exist; query and JSON body must match its schema) and so is every answer it
 * gives. Each mismatch lands in `violations`, which the tests require to stay empty.
 */

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly operationId: string | null;
  readonly query: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly headers: IncomingHttpHeaders;
}

export interface StandInCollection {
  readonly size: number;
  readonly distance: string;
  readonly payloadSchema: Record<string, { data_type: string; params: Record<string, unknown> | null }>;
  readonly points: Map<string, StoredPoint>;
}

type Reply = { status: number; json?: unknown; text?: string };
type Body = Record<string, unknown>;

let openApi: QdrantOpenApi | undefined;
const ok = (result: unknown): Reply => ({ status: 200, json: { result, status: 'ok', time: 0.0001 } });
const error = (status: number, message: string): Reply => ({ status, json: { status: { error: message }, time: 0.0001 } });

export class QdrantStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  readonly collections = new Map<string, StandInCollection>();
  /** Answer the next `remaining` requests with `status` (5xx: an overloaded Qdrant). */
  fault: { status: number; remaining: number } | null = null;
  /** Delay before answering, to provoke the client's timeout. */
  delayMs = 0;
  /** Answer searches as if the filter were ignored (a broken server), for the defence-in-depth test. */
  ignoreFilters = false;
  /** Runs just before a collection is created: lets a test play a concurrent creator. */
  beforeCreate: ((name: string) => void) | null = null;
  private server: Server | undefined;
  private operationId = 0;

  private constructor(private port: number) {}

  static async start(): Promise<QdrantStandIn> {
    openApi ??= new QdrantOpenApi();
    const standIn = new QdrantStandIn(0);
    await standIn.restart();
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops answering: connections are refused until `restart()` (same port, same data). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  async restart(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.violations.push(`the stand-in failed: ${e instanceof Error ? e.stack : String(e)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"status":{"error":"stand-in failure"}}');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  seedCollection(name: string, opts: { size: number; distance?: string; indexes?: boolean }): StandInCollection {
    const payloadSchema: StandInCollection['payloadSchema'] = {};
    if (opts.indexes !== false) {
      payloadSchema.project_id = { data_type: 'keyword', params: { type: 'keyword', is_tenant: true } };
      payloadSchema.language = { data_type: 'keyword', params: { type: 'keyword' } };
    }
    const collection = { size: opts.size, distance: opts.distance ?? 'Cosine', payloadSchema, points: new Map() };
    this.collections.set(name, collection);
    return collection;
  }

  /** The violations seen so far, cleared along with the recorded requests and any fault. */
  takeViolations(): string[] {
    const seen = this.violations.splice(0);
    this.requests.length = 0;
    this.fault = null;
    this.delayMs = 0;
    this.ignoreFilters = false;
    this.beforeCreate = null;
    return seen;
  }

  requestsTo(operationId: string): RecordedRequest[] {
    return this.requests.filter((r) => r.operationId === operationId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        this.violations.push(`${method} ${url.pathname}: body is not JSON`);
      }
    }
    const op = openApi?.match(method, url.pathname) ?? null;
    this.requests.push({
      method,
      path: url.pathname,
      operationId: op?.operationId ?? null,
      query: Object.fromEntries(url.searchParams),
      body,
      headers: req.headers,
    });

    let reply: Reply;
    if (!op || !openApi) {
      this.violations.push(`${method} ${url.pathname} is not an operation of Qdrant 1.15's API`);
      reply = error(404, 'no such operation');
    } else {
      const problems = openApi.checkRequest(op, method, url.searchParams, body);
      this.violations.push(...problems.map((p) => `${method} ${url.pathname}: ${p}`));
      reply = await this.answer(op, (body ?? {}) as Body);
      const wrong = reply.json !== undefined ? openApi.checkResponse(op, method, reply.status, reply.json) : [];
      this.violations.push(...wrong.map((p) => `the stand-in itself answered outside the schema: ${p}`));
    }
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (reply.json !== undefined) {
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.json));
    } else {
      res.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.text ?? '');
    }
  }

  private async answer(op: MatchedOperation, body: Body): Promise<Reply> {
    if (this.fault && this.fault.remaining > 0) {
      this.fault.remaining -= 1;
      return error(this.fault.status, 'Service internal error: stand-in fault');
    }
    const name = op.params.collection_name ?? '';
    const collection = this.collections.get(name);
    const missing = () => error(404, `Not found: Collection \`${name}\` doesn't exist!`);
    try {
      switch (op.operationId) {
        case 'root':
          return { status: 200, json: { title: 'qdrant - vector search engine (stand-in)', version: '1.15.4', commit: null } };
        case 'readyz':
          return { status: 200, text: 'all shards are ready' };
        case 'collection_exists':
          return ok({ exists: collection !== undefined });
        case 'get_collection':
          return collection ? ok(collectionInfo(collection)) : missing();
        case 'create_collection':
          return this.createCollection(name, body);
        case 'delete_collection':
          return ok(this.collections.delete(name));
        case 'create_field_index': {
          if (!collection) return missing();
          const schema = body.field_schema as string | Record<string, unknown>;
          const params = typeof schema === 'object' ? schema : null;
          collection.payloadSchema[String(body.field_name)] = { data_type: String(params ? params.type : schema), params };
          return ok(this.updated());
        }
        case 'upsert_points':
          return collection ? this.upsert(collection, body) : missing();
        case 'query_points':
          return collection ? this.query(collection, body) : missing();
        case 'count_points':
          return collection ? ok({ count: this.matching(collection, body.filter).length }) : missing();
        case 'delete_points': {
          if (!collection) return missing();
          const ids = Array.isArray(body.points) ? body.points.map(String) : this.matching(collection, body.filter).map((p) => p.id);
          for (const id of ids) collection.points.delete(id);
          return ok(this.updated());
        }
        default:
          this.violations.push(`the stand-in does not implement ${op.operationId}`);
          return error(400, `stand-in: ${op.operationId} not implemented`);
      }
    } catch (e) {
      if (!(e instanceof UnsupportedCondition)) throw e;
      this.violations.push(`the stand-in cannot evaluate a filter: ${e.message}`);
      return error(400, `stand-in: unsupported condition ${e.message}`);
    }
  }

  private createCollection(name: string, body: Body): Reply {
    this.beforeCreate?.(name);
    if (this.collections.has(name)) return error(409, `Wrong input: Collection \`${name}\` already exists!`);
    const vectors = body.vectors as { size?: number; distance?: string } | undefined;
    if (typeof vectors?.size !== 'number' || typeof vectors.distance !== 'string') {
      this.violations.push('the stand-in supports one unnamed vector per point only');
      return error(400, 'stand-in: named vectors not supported');
    }
    this.seedCollection(name, { size: vectors.size, distance: vectors.distance, indexes: false });
    return ok(true);
  }

  private upsert(collection: StandInCollection, body: Body): Reply {
    const points = body.points as Array<{ id: string | number; vector: number[]; payload?: Record<string, unknown> | null }>;
    for (const p of points) {
      if (!Array.isArray(p.vector) || p.vector.length !== collection.size) {
        return error(400, `Wrong input: Vector dimension error: expected dim: ${collection.size}, got ${p.vector?.length}`);
      }
    }
    for (const p of points) collection.points.set(String(p.id), { id: String(p.id), vector: p.vector, payload: p.payload ?? {} });
    return ok(this.updated());
  }

  private query(collection: StandInCollection, body: Body): Reply {
    const vector = body.query as number[];
    const limit = typeof body.limit === 'number' ? body.limit : 10;
    const threshold = typeof body.score_threshold === 'number' ? body.score_threshold : Number.NEGATIVE_INFINITY;
    const candidates = this.ignoreFilters ? [...collection.points.values()] : this.matching(collection, body.filter);
    const points = candidates
      .map((p) => ({ id: p.id, version: 0, score: cosine(vector, p.vector), payload: body.with_payload === true ? p.payload : null }))
      .filter((p) => p.score >= threshold)
      .sort((a, b) => b.score - a.score)
      .slice(0, limit);
    return ok({ points });
  }

  private matching(collection: StandInCollection, filter: unknown): StoredPoint[] {
    return [...collection.points.values()].filter((p) => filterMatches(filter, p));
  }

  private updated() {
    this.operationId += 1;
    return { operation_id: this.operationId, status: 'completed' };
  }
}

/** A CollectionInfo as Qdrant 1.15 reports it (defaults of a fresh single-node collection). */
function collectionInfo(c: StandInCollection) {
  return {
    status: 'green',
    optimizer_status: 'ok',
    indexed_vectors_count: 0,
    points_count: c.points.size,
    segments_count: 2,
    config: {
      params: {
        vectors: { size: c.size, distance: c.distance },
        shard_number: 1,
        replication_factor: 1,
        write_consistency_factor: 1,
        on_disk_payload: true,
      },
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
      optimizer_config: {
        deleted_threshold: 0.2,
        vacuum_min_vector_number: 1000,
        default_segment_number: 0,
        max_segment_size: null,
        memmap_threshold: null,
        indexing_threshold: 10000,
        flush_interval_sec: 5,
        max_optimization_threads: null,
      },
      wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
      quantization_config: null,
      strict_mode_config: { enabled: false },
    },
    payload_schema: Object.fromEntries(
      Object.entries(c.payloadSchema).map(([field, index]) => [
        field,
        { data_type: index.data_type, ...(index.params ? { params: index.params } : {}), points: c.points.size },
      ]),
    ),
  };
}

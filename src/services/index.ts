import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import { ProjectAccess } from '../access/project-access.js';
import type { TokenService } from '../auth/tokens.js';
import type { Database } from '../db/types.js';
import { IdempotencyRepository } from '../repositories/idempotency.repository.js';
import { LeasesRepository } from '../repositories/leases.repository.js';
import { ProjectsRepository } from '../repositories/projects.repository.js';
import { UsersRepository } from '../repositories/users.repository.js';
import type { VectorsRepository } from '../repositories/vectors.repository.js';
import type { EventBus } from '../streaming/events.js';
import { AccessNotices, StreamAccess } from '../streaming/stream-access.js';
import { AuditLog } from './audit.service.js';
import { AuthService } from './auth.service.js';
import { DocumentsService } from './documents.service.js';
import type { DownloadLinks } from './export-link.js';
import { PostgresExportStorage } from './export-storage.js';
import { ExportsService } from './exports.service.js';
import { LeasesService } from './leases.service.js';
import { MessagesService } from './messages.service.js';
import { OperationsService } from './operations.service.js';
import { ProjectEventsService } from './project-events.service.js';
import { ProjectsService } from './projects.service.js';
import { VectorPurgeService } from './vector-purges.service.js';

/** What the composition root is built from: the infrastructure plugins' handles. */
export interface ServiceDependencies {
  readonly db: Kysely<Database>;
  readonly bus: EventBus;
  /** Null without a vector store (QDRANT_URL unset: development, test). */
  readonly vectors: VectorsRepository | null;
  readonly tokens: TokenService;
  readonly log: FastifyBaseLogger;
  /** Events kept per operation for resume (SSE_REPLAY_EVENTS). */
  readonly replayEvents: number;
  /** Leases before an operation fails (WORKER_MAX_ATTEMPTS). */
  readonly workerMaxAttempts?: number;
  /** How often each instance sweeps expired leases (ms; default 1000). */
  readonly leaseSweepIntervalMs?: number;
  /** Exports (docs/contract.md §11): signed links, how long archives are kept, the build test hook. */
  readonly exports: { readonly links: DownloadLinks; readonly ttlSeconds: number; readonly buildDelayMs: number };
}

/** Every service of the app, built once. Routes and the request chain take them from `app.services`. */
export interface Services {
  readonly tokens: TokenService;
  readonly auth: AuthService;
  readonly access: ProjectAccess;
  /** The audit log; other services get it here and call `record(tx, entry)` in their writes' transactions. */
  readonly audit: AuditLog;
  /** Idempotency keys of POSTs (the request chain's idempotency step, docs/adr/0021). */
  readonly idempotencyKeys: IdempotencyRepository;
  readonly projects: ProjectsService;
  readonly documents: DocumentsService;
  readonly operations: OperationsService;
  /** The project stream's history and current id (contract §9). */
  readonly projectEvents: ProjectEventsService;
  /** The conversation (contract §10). */
  readonly messages: MessagesService;
  /** Ends a stream when its caller's access does (contract §9, docs/adr/0019). */
  readonly streamAccess: StreamAccess;
  /** Vector deletions owed for deleted projects (a background sweep; null without a vector store). */
  readonly vectorPurges: VectorPurgeService | null;
  /** Worker leases, heartbeats and the expiry sweep (docs/contract.md §8, docs/adr/0020). */
  readonly leases: LeasesService;
  /** Export archives, their storage and signed links (docs/contract.md §11, docs/adr/0023). */
  readonly exports: ExportsService;
}

/**
 * The composition root (docs/adr/0014-composition-root-and-request-chain.md): the only place
 * that builds repositories and services. A new resource adds its repository and service here;
 * route files never call `new` on either. Repositories that must run inside a transaction are
 * made by the service on the transaction's handle (`new XRepository(tx)`), which is the one
 * other place they are built.
 */
export function buildServices(deps: ServiceDependencies): Services {
  const { db, bus, vectors, tokens, log, replayEvents } = deps;
  const users = new UsersRepository(db);
  const projects = new ProjectsRepository(db);
  const audit = new AuditLog(db);
  const vectorPurges = vectors ? new VectorPurgeService(db, vectors, { log: log.child({ component: 'vector-purges' }) }) : null;
  const operations = new OperationsService(db, audit, bus, {
    replayEvents,
    ...(deps.workerMaxAttempts !== undefined ? { maxAttempts: deps.workerMaxAttempts } : {}),
  });
  return Object.freeze({
    tokens,
    auth: new AuthService(tokens, users),
    access: new ProjectAccess(projects, new LeasesRepository(db)),
    audit,
    idempotencyKeys: new IdempotencyRepository(db),
    projects: new ProjectsService(db, audit, vectorPurges, new AccessNotices(bus)),
    vectorPurges,
    documents: new DocumentsService(db, audit),
    operations,
    exports: new ExportsService(db, audit, bus, operations, new PostgresExportStorage(db), deps.exports.links, {
      ttlSeconds: deps.exports.ttlSeconds,
      buildDelayMs: deps.exports.buildDelayMs,
    }),
    leases: new LeasesService(db, operations, tokens, bus, {
      ...(deps.leaseSweepIntervalMs !== undefined ? { sweepIntervalMs: deps.leaseSweepIntervalMs } : {}),
    }),
    projectEvents: new ProjectEventsService(db),
    messages: new MessagesService(db, audit),
    streamAccess: new StreamAccess(bus, async (projectId, userId) => (await projects.findMembership(projectId, userId))?.role),
  });
}

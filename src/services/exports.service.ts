import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { grantScope, type ProjectScope } from '../access/project-scope.js';
import type { Database, Operation } from '../db/types.js';
import { ForbiddenError, GoneError, NotFoundError } from '../lib/errors.js';
import { ExportsRepository, type ExportView } from '../repositories/exports.repository.js';
import { OperationsRepository } from '../repositories/operations.repository.js';
import type { EventBus, OperationEvent } from '../streaming/events.js';
import { type AuditLog, actorOf } from './audit.service.js';
import { buildArchive } from './export-archive.js';
import type { DownloadLinks } from './export-link.js';
import type { ExportStorage } from './export-storage.js';
import type { LeaseGranted } from './leases.service.js';
import type { OperationsService } from './operations.service.js';
import { wakeWorkers } from './worker-wake.js';

/** The operation kind an export runs as (docs/contract.md §11). */
export const EXPORT_KIND = 'export';

export type ExportStatus = 'pending' | 'running' | 'ready' | 'failed' | 'expired';

export interface ExportPublic {
  readonly id: string;
  readonly status: ExportStatus;
  readonly bytes: number | null;
  readonly sha256: string | null;
  readonly created_at: string;
  readonly expires_at: string;
  readonly download_url: string | null;
}

export interface ExportDownload {
  readonly fileName: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly body: Readable;
}

export interface ExportsServiceOptions {
  /** EXPORT_TTL_HOURS, in seconds. */
  readonly ttlSeconds: number;
  /** A pause after each document while building: a test hook to catch a build mid-way (never in production). */
  readonly buildDelayMs?: number;
}

/** The one answer to a link that does not work: tampered, expired, another export's, a former member's. */
const LINK_REFUSED = 'The download link is invalid or has expired';

/**
 * Exports (docs/contract.md §11, docs/adr/0023): a request creates the export and its `export`
 * operation; the service's own worker (ExportWorker) leases the operation like any worker and
 * calls `build`; a signed link serves the bytes; a sweep on every instance expires them.
 */
export class ExportsService {
  private readonly exports: ExportsRepository;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly bus: EventBus,
    private readonly operations: OperationsService,
    private readonly storage: ExportStorage,
    private readonly links: DownloadLinks,
    private readonly options: ExportsServiceOptions,
  ) {
    this.exports = new ExportsRepository(db);
  }

  /** The export and its operation, in one transaction (no operation without its export); then workers are woken. */
  async create(scope: ProjectScope): Promise<{ export: ExportPublic; operation: Operation }> {
    const { row, operation } = await this.db.transaction().execute(async (tx) => {
      const operation = await new OperationsRepository(tx).create(scope, {
        projectId: scope.projectId,
        kind: EXPORT_KIND,
        input: {},
        createdBy: scope.userId,
      });
      const row = await new ExportsRepository(tx).create(scope, { operationId: operation.id, ttlSeconds: this.options.ttlSeconds });
      // One entry for the export (its operation is part of it), in the same transaction (docs/contract.md §12).
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'export.create',
        target: { type: 'export', id: row.id },
        changes: { operation_id: operation.id },
      });
      return { row, operation };
    });
    // After COMMIT: a woken worker must find the operation (docs/adr/0020).
    await wakeWorkers(this.bus, EXPORT_KIND);
    return { export: this.toPublic({ ...row, operationStatus: operation.status, expired: false }, scope.userId), operation };
  }

  async get(scope: ProjectScope, exportId: string): Promise<ExportPublic> {
    const view = await this.exports.get(scope, exportId);
    if (!view) throw new NotFoundError(`Export ${exportId} not found`);
    return this.toPublic(view, scope.userId);
  }

  /**
   * The bytes behind a signed link. The signature is checked before anything is read, so a link
   * that does not verify learns nothing (not even whether the export exists): 403. A verified
   * link of a signer who can no longer read the project is refused the same way; past the TTL, 410.
   */
  async download(exportId: string, sig: string): Promise<ExportDownload> {
    const userId = this.links.verify(exportId, sig);
    if (userId === null) throw new ForbiddenError(LINK_REFUSED);
    const row = await this.exports.forDownload(exportId, userId);
    if (!row?.member) throw new ForbiddenError(LINK_REFUSED);
    if (row.expired) throw new GoneError(`Export ${exportId} has expired`);
    if (row.status !== 'ready' || row.attempt === null || row.bytes === null || row.sha256 === null || row.fileName === null) {
      throw new ForbiddenError(LINK_REFUSED);
    }
    return {
      fileName: row.fileName,
      bytes: Number(row.bytes),
      sha256: row.sha256,
      body: this.storage.read(row.id, row.attempt, Number(row.bytes)),
    };
  }

  /**
   * Builds the archive of a leased export operation (called by ExportWorker). Progress events go
   * out through the lease (they extend it; a lost lease makes them 409, which stops the build); the
   * completion is fenced on the lease in the transaction that records the archive.
   */
  async build(granted: LeaseGranted, worker: string, signal: AbortSignal): Promise<void> {
    const { operation, lease } = granted;
    const scope = grantScope({
      projectId: operation.projectId,
      userId: operation.createdBy,
      role: 'editor',
      language: granted.project.language,
      actor: { worker, leaseId: lease.id, operationId: operation.id },
    });
    const row = await this.exports.byOperation(operation.id);
    const project = await this.exports.project(operation.projectId);
    if (!row || !project) {
      await this.operations.publish(scope, operation.id, { type: 'export.failed', data: { error: 'export_missing' }, status: 'failed' });
      return;
    }
    const documents = await this.exports.latestVersions(operation.projectId);
    const delayMs = this.options.buildDelayMs ?? 0;
    const archive = buildArchive({
      project,
      documents,
      content: (type, version) => this.exports.content(operation.projectId, type, version),
      onDocument: async (done, total, type) => {
        signal.throwIfAborted();
        await this.operations.publish(scope, operation.id, {
          type: 'export.progress',
          data: { export_id: row.id, document_type: type, done, total },
        });
        if (delayMs > 0) await sleep(delayMs, undefined, { signal });
      },
    });
    const stored = await this.storage.write(row.id, lease.attempt, archive.stream);
    signal.throwIfAborted();
    const data = { export_id: row.id, bytes: stored.bytes, sha256: stored.sha256, documents: documents.length };
    const event = await this.db.transaction().execute(async (tx) => {
      const exports = new ExportsRepository(tx);
      if (!(await exports.lockCurrentLease(operation.id, lease.id))) return undefined;
      const ownScope = grantScope({
        projectId: operation.projectId,
        userId: operation.createdBy,
        role: 'editor',
        language: project.language,
      });
      if (!(await exports.markReady(row.id, { attempt: lease.attempt, fileName: `${archive.slug}.zip`, ...stored }))) {
        return this.operations.appendOwn(tx, ownScope, operation.id, 'export.failed', { export_id: row.id, error: 'expired' }, 'failed', {
          error: 'expired',
        });
      }
      return this.operations.appendOwn(tx, ownScope, operation.id, 'export.completed', data, 'completed');
    });
    if (event) {
      await this.operations.fanOut(operation.projectId, event as OperationEvent);
      await this.storage.remove(row.id, lease.attempt);
    } else {
      // Another attempt owns the export now: this one's bytes are nobody's.
      await this.storage.discard(row.id, lease.attempt);
    }
  }

  /** Reports a build that failed for a reason a retry would not fix; a lost lease (409) is ignored. */
  async fail(granted: LeaseGranted, worker: string, error: string, status: 'failed' | 'cancelled' = 'failed'): Promise<void> {
    const { operation, lease } = granted;
    const scope = grantScope({
      projectId: operation.projectId,
      userId: operation.createdBy,
      role: 'editor',
      language: granted.project.language,
      actor: { worker, leaseId: lease.id, operationId: operation.id },
    });
    await this.operations.publish(scope, operation.id, { type: `export.${status}`, data: { error }, status }).catch(() => undefined);
  }

  /** Expires what passed its TTL (each export once across instances) and removes its bytes. */
  async sweep(limit = 100): Promise<string[]> {
    const expired = await this.exports.expireDue(limit);
    for (const { id } of expired) await this.storage.remove(id, null);
    return expired.map((e) => e.id);
  }

  private toPublic(view: ExportView, userId: string): ExportPublic {
    const status = publicStatus(view);
    const ready = status === 'ready';
    return {
      id: view.id,
      status,
      bytes: ready && view.bytes !== null ? Number(view.bytes) : null,
      sha256: ready ? view.sha256 : null,
      created_at: view.createdAt.toISOString(),
      expires_at: view.expiresAt.toISOString(),
      download_url: ready ? this.links.url(view.id, userId) : null,
    };
  }
}

function publicStatus(view: ExportView): ExportStatus {
  if (view.expired) return 'expired';
  if (view.status === 'ready') return 'ready';
  switch (view.operationStatus) {
    case 'pending':
      return 'pending';
    case 'running':
      return 'running';
    default:
      return 'failed';
  }
}

import { sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { DocumentType, ExportRow, OperationStatus } from '../db/types.js';
import { ScopedRepository } from './scoped.repository.js';

/** An export with what its public status is derived from (docs/contract.md §11). */
export interface ExportView extends ExportRow {
  readonly operationStatus: OperationStatus;
  /** `expires_at` has passed by the database's clock (whether or not the sweep has run). */
  readonly expired: boolean;
}

/** A ready export found by id for a download, with whether the signer may still read its project. */
export interface DownloadRow extends ExportView {
  readonly member: boolean;
}

/**
 * Exports and what building one reads (docs/adr/0023). Reads by a request take the project scope;
 * the builder and the download (verified by signature first) reach rows by id.
 */
export class ExportsRepository extends ScopedRepository {
  async create(scope: ProjectScope, values: { operationId: string; ttlSeconds: number }): Promise<ExportRow> {
    return this.db
      .insertInto('exports')
      .values({
        projectId: scope.projectId,
        operationId: values.operationId,
        createdBy: scope.userId,
        expiresAt: sql<Date>`now() + make_interval(secs => ${values.ttlSeconds}::float8)`,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  get(scope: ProjectScope, exportId: string): Promise<ExportView | undefined> {
    return this.view().where('e.projectId', '=', scope.projectId).where('e.id', '=', exportId).executeTakeFirst();
  }

  /** For a download whose signature was already verified: the export and the signer's membership. */
  forDownload(exportId: string, userId: string): Promise<DownloadRow | undefined> {
    return this.view()
      .innerJoin('projects as p', 'p.id', 'e.projectId')
      .select(
        sql<boolean>`(NOT p.is_deleted AND EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = e.project_id AND m.user_id = ${userId}))`.as(
          'member',
        ),
      )
      .where('e.id', '=', exportId)
      .executeTakeFirst();
  }

  byOperation(operationId: string): Promise<ExportRow | undefined> {
    return this.db.selectFrom('exports').selectAll().where('operationId', '=', operationId).executeTakeFirst();
  }

  /** What the archive's manifest names: the project's id, name and language. */
  project(projectId: string): Promise<{ id: string; name: string; language: string } | undefined> {
    return this.db.selectFrom('projects').select(['id', 'name', 'language']).where('id', '=', projectId).executeTakeFirst();
  }

  /** The latest live version number of each document type (no content: that is read one at a time). */
  latestVersions(projectId: string): Promise<Array<{ type: DocumentType; version: number }>> {
    return this.db
      .selectFrom('documentVersions')
      .select(['documentType as type', 'version'])
      .distinctOn('documentType')
      .where('projectId', '=', projectId)
      .where('isDeleted', '=', false)
      .orderBy('documentType')
      .orderBy('version', 'desc')
      .execute();
  }

  async content(projectId: string, type: DocumentType, version: number): Promise<string> {
    const row = await this.db
      .selectFrom('documentVersions')
      .select('content')
      .where('projectId', '=', projectId)
      .where('documentType', '=', type)
      .where('version', '=', version)
      .executeTakeFirstOrThrow();
    return row.content;
  }

  /**
   * Locks the operation if `leaseId` is still its current lease (fencing, docs/adr/0020): a builder
   * whose lease ran out must not complete the export a retry now owns.
   */
  async lockCurrentLease(operationId: string, leaseId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('operations')
      .select('id')
      .where('id', '=', operationId)
      .where('leaseId', '=', leaseId)
      .where('status', '=', 'running')
      .where('leaseExpiresAt', '>', sql<Date>`now()`)
      .forUpdate()
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Records the built archive; false when the export expired meanwhile (nothing changed). */
  async markReady(exportId: string, built: { attempt: number; bytes: number; sha256: string; fileName: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('exports')
      .set({ status: 'ready', ...built, completedAt: sql<Date>`now()` })
      .where('id', '=', exportId)
      .where('status', '=', 'pending')
      .where('expiresAt', '>', sql<Date>`now()`)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Marks up to `limit` exports past their expiry as expired and returns them. Rows another
   * instance's sweep holds are skipped, and one it already marked no longer matches once its lock
   * is released (READ COMMITTED re-checks the newest row version): each export expires once.
   */
  async expireDue(limit: number): Promise<Array<{ id: string; projectId: string }>> {
    const { rows } = await sql<{ id: string; projectId: string }>`
      UPDATE exports SET status = 'expired'
      WHERE id IN (
        SELECT id FROM exports
        WHERE status <> 'expired' AND expires_at <= now()
        ORDER BY expires_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) AND status <> 'expired'
      RETURNING id, project_id
    `.execute(this.db);
    return rows;
  }

  private view() {
    return this.db
      .selectFrom('exports as e')
      .innerJoin('operations as o', 'o.id', 'e.operationId')
      .selectAll('e')
      .select(['o.status as operationStatus', sql<boolean>`(e.status = 'expired' OR e.expires_at <= now())`.as('expired')]);
  }
}

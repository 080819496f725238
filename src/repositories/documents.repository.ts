import { sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { DocumentType, DocumentVersion } from '../db/types.js';
import type { Page, PageResult } from './paging.js';
import { ScopedRepository } from './scoped.repository.js';

export type VersionSummary = Omit<DocumentVersion, 'content'>;

export interface NewVersion {
  readonly projectId: string;
  readonly documentType: DocumentType;
  readonly content: string;
  readonly metadata: Record<string, unknown>;
  readonly createdBy: string;
}

const SUMMARY_COLUMNS = [
  'id',
  'projectId',
  'documentType',
  'version',
  'metadata',
  'readabilityScore',
  'grammarScore',
  'createdBy',
  'createdAt',
  'updatedAt',
  'deletedAt',
  'isDeleted',
] as const;

/** Linear document versions per (project, type). */
export class DocumentsRepository extends ScopedRepository {
  /**
   * Appends the next version. Call inside a transaction: a transaction-level advisory lock
   * on (project, type) serialises concurrent writers, so two of them never compute the same
   * number (the unique constraint is the backstop). Soft-deleted versions still count, so a
   * number is never reused. `precondition` sees the id of the newest live version under that
   * lock (undefined when there is none) and throws to refuse the write (If-Match).
   */
  async append(scope: ProjectScope, values: NewVersion, precondition?: (latestId: string | undefined) => void): Promise<DocumentVersion> {
    this.assertInScope(scope, values.projectId);
    await sql`select pg_advisory_xact_lock(hashtextextended(${`${scope.projectId}:${values.documentType}`}, 0))`.execute(this.db);
    if (precondition) {
      const latest = await this.getVersion(scope, values.documentType, 'latest');
      precondition(latest?.id);
    }
    const { next } = await this.db
      .selectFrom('documentVersions')
      .select(sql<number>`coalesce(max(version), 0)::int + 1`.as('next'))
      .where('projectId', '=', scope.projectId)
      .where('documentType', '=', values.documentType)
      .executeTakeFirstOrThrow();
    return this.db
      .insertInto('documentVersions')
      .values({ ...values, version: next })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** The newest live version of each document type. */
  latestPerType(scope: ProjectScope): Promise<DocumentVersion[]> {
    return this.db
      .selectFrom('documentVersions')
      .selectAll()
      .distinctOn('documentType')
      .where('projectId', '=', scope.projectId)
      .where('isDeleted', '=', false)
      .orderBy('documentType')
      .orderBy('version', 'desc')
      .execute();
  }

  async listVersions(scope: ProjectScope, documentType: DocumentType, page: Page): Promise<PageResult<VersionSummary>> {
    const base = this.db
      .selectFrom('documentVersions')
      .where('projectId', '=', scope.projectId)
      .where('documentType', '=', documentType)
      .where('isDeleted', '=', false);
    const [items, count] = await Promise.all([
      base.select(SUMMARY_COLUMNS).orderBy('version', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select(sql<number>`count(*)::int`.as('total')).executeTakeFirstOrThrow(),
    ]);
    return { items, total: count.total, limit: page.limit, offset: page.offset };
  }

  /** One version, or the latest when `version` is 'latest'. */
  getVersion(scope: ProjectScope, documentType: DocumentType, version: number | 'latest'): Promise<DocumentVersion | undefined> {
    let query = this.db
      .selectFrom('documentVersions')
      .selectAll()
      .where('projectId', '=', scope.projectId)
      .where('documentType', '=', documentType)
      .where('isDeleted', '=', false);
    query = version === 'latest' ? query.orderBy('version', 'desc').limit(1) : query.where('version', '=', version);
    return query.executeTakeFirst();
  }

  /** Soft delete of one version. */
  async softDeleteVersion(scope: ProjectScope, documentType: DocumentType, version: number): Promise<boolean> {
    const result = await this.db
      .updateTable('documentVersions')
      .set({ isDeleted: true, deletedAt: new Date() })
      .where('projectId', '=', scope.projectId)
      .where('documentType', '=', documentType)
      .where('version', '=', version)
      .where('isDeleted', '=', false)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

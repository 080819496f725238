import type { Kysely } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database, DocumentType } from '../db/types.js';
import { NotFoundError, PreconditionFailedError } from '../lib/errors.js';
import { DocumentsRepository } from '../repositories/documents.repository.js';
import type { Page } from '../repositories/paging.js';
import { type AuditLog, actorOf } from './audit.service.js';
import { confirmWriteAccess } from './write-access.js';

/** Linear document versioning per (project, type). */
export class DocumentsService {
  private readonly documents: DocumentsRepository;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
  ) {
    this.documents = new DocumentsRepository(db);
  }

  /**
   * Appends version previous+1 atomically (the repository serialises writers per type). The
   * caller's editor role in the live project is confirmed under lock first: a version never
   * lands in a project deleted, or from an editor demoted, after the guard looked.
   * `ifMatch`: whether the latest version's id (undefined: none) is the one the writer started
   * from (its ETag); if not, 412 and nothing is written (docs/contract.md §12). The check runs
   * under the same lock as the append.
   */
  append(
    scope: ProjectScope,
    documentType: DocumentType,
    input: { content: string; metadata?: Record<string, unknown> | undefined },
    ifMatch?: (latestVersionId: string | undefined) => boolean,
  ) {
    return this.db.transaction().execute(async (tx) => {
      await confirmWriteAccess(tx, scope, 'editor');
      const created = await new DocumentsRepository(tx).append(
        scope,
        { projectId: scope.projectId, documentType, content: input.content, metadata: input.metadata ?? {}, createdBy: scope.userId },
        ifMatch &&
          ((latestId) => {
            if (!ifMatch(latestId)) throw new PreconditionFailedError(`Document ${documentType} has a newer version than that ETag`);
          }),
      );
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'document_version.create',
        target: { type: 'document_version', id: created.id },
        changes: { document_type: documentType, version: created.version, content_bytes: Buffer.byteLength(created.content) },
      });
      return created;
    });
  }

  latest(scope: ProjectScope) {
    return this.documents.latestPerType(scope);
  }

  list(scope: ProjectScope, documentType: DocumentType, page: Page) {
    return this.documents.listVersions(scope, documentType, page);
  }

  async get(scope: ProjectScope, documentType: DocumentType, version: number | 'latest') {
    const found = await this.documents.getVersion(scope, documentType, version);
    if (!found) throw new NotFoundError(`Document ${documentType} version ${version} not found`);
    return found;
  }
}

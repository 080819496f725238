import type { Kysely } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database, DocumentType } from '../db/types.js';
import { NotFoundError } from '../lib/errors.js';
import { DocumentsRepository } from '../repositories/documents.repository.js';
import type { Page } from '../repositories/paging.js';
import { confirmWriteAccess } from './write-access.js';

/** Linear document versioning per (project, type). */
export class DocumentsService {
  private readonly documents: DocumentsRepository;

  constructor(private readonly db: Kysely<Database>) {
    this.documents = new DocumentsRepository(db);
  }

  /**
   * Appends version previous+1 atomically (the repository serialises writers per type). The
   * caller's editor role in the live project is confirmed under lock first: a version never
   * lands in a project deleted, or from an editor demoted, after the guard looked.
   */
  append(scope: ProjectScope, documentType: DocumentType, input: { content: string; metadata?: Record<string, unknown> | undefined }) {
    return this.db.transaction().execute(async (tx) => {
      await confirmWriteAccess(tx, scope, 'editor');
      return new DocumentsRepository(tx).append(scope, {
        projectId: scope.projectId,
        documentType,
        content: input.content,
        metadata: input.metadata ?? {},
        createdBy: scope.userId,
      });
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

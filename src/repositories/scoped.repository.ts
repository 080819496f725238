import type { Kysely, Transaction } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database } from '../db/types.js';
import { ForbiddenError } from '../lib/errors.js';

export type Db = Kysely<Database> | Transaction<Database>;

/**
 * Base of every project-scoped repository (REQ-008, SEC-002). Its methods take the
 * ProjectScope first (by type: forgetting it does not compile) and every query filters
 * `project_id = scope.projectId` before anything else; creates go through `assertInScope`,
 * which refuses a row of another project. Soft-deleted rows are excluded unless a method
 * says otherwise.
 */
export abstract class ScopedRepository {
  constructor(protected readonly db: Db) {}

  protected assertInScope(scope: ProjectScope, projectId: string): void {
    if (projectId !== scope.projectId) {
      throw new ForbiddenError('The entity belongs to another project');
    }
  }
}

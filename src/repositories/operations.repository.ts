import type { ProjectScope } from '../access/project-scope.js';
import type { Operation, OperationStatus } from '../db/types.js';
import { ScopedRepository } from './scoped.repository.js';

export interface NewOperation {
  readonly projectId: string;
  readonly kind: string;
  readonly input: Record<string, unknown>;
  readonly createdBy: string;
}

export class OperationsRepository extends ScopedRepository {
  async create(scope: ProjectScope, values: NewOperation): Promise<Operation> {
    this.assertInScope(scope, values.projectId);
    return this.db.insertInto('operations').values(values).returningAll().executeTakeFirstOrThrow();
  }

  get(scope: ProjectScope, operationId: string): Promise<Operation | undefined> {
    return this.db
      .selectFrom('operations')
      .selectAll()
      .where('projectId', '=', scope.projectId)
      .where('id', '=', operationId)
      .executeTakeFirst();
  }

  /** The row, locked for the rest of the transaction (one status change at a time). */
  getForUpdate(scope: ProjectScope, operationId: string): Promise<Operation | undefined> {
    return this.db
      .selectFrom('operations')
      .selectAll()
      .where('projectId', '=', scope.projectId)
      .where('id', '=', operationId)
      .forUpdate()
      .executeTakeFirst();
  }

  async setStatus(
    scope: ProjectScope,
    operationId: string,
    status: OperationStatus,
    error?: string | null,
  ): Promise<Operation | undefined> {
    const now = new Date();
    const terminal = status === 'completed' || status === 'failed' || status === 'cancelled';
    return this.db
      .updateTable('operations')
      .set((eb) => ({
        status,
        startedAt: status === 'running' || terminal ? eb.fn.coalesce('startedAt', eb.val(now)) : eb.ref('startedAt'),
        ...(terminal ? { completedAt: now } : {}),
        ...(error !== undefined ? { error } : {}),
      }))
      .where('projectId', '=', scope.projectId)
      .where('id', '=', operationId)
      .returningAll()
      .executeTakeFirst();
  }
}

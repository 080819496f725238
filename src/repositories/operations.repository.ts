import type { ProjectScope } from '../access/project-scope.js';
import type { Operation } from '../db/types.js';
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
}

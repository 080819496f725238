import type { ProjectScope } from '../access/project-scope.js';
import type { ProjectRole } from '../db/types.js';
import { ScopedRepository } from './scoped.repository.js';

export interface MemberRow {
  readonly userId: string;
  readonly email: string;
  readonly name: string;
  readonly role: ProjectRole;
  readonly createdAt: Date;
}

export class MembersRepository extends ScopedRepository {
  list(scope: ProjectScope): Promise<MemberRow[]> {
    return this.db
      .selectFrom('projectMembers as m')
      .innerJoin('users as u', 'u.id', 'm.userId')
      .select(['m.userId', 'u.email', 'u.name', 'm.role', 'm.createdAt'])
      .where('m.projectId', '=', scope.projectId)
      .orderBy('m.createdAt')
      .orderBy('m.userId')
      .execute();
  }

  /**
   * Locks the project's membership rows for the rest of the transaction, so two owners
   * demoting each other at once cannot both succeed and leave the project ownerless.
   */
  async lockRoles(scope: ProjectScope): Promise<Map<string, ProjectRole>> {
    const rows = await this.db
      .selectFrom('projectMembers')
      .select(['userId', 'role'])
      .where('projectId', '=', scope.projectId)
      // One order for every locker: two transactions never hold each other's next row.
      .orderBy('userId')
      .forUpdate()
      .execute();
    return new Map(rows.map((r) => [r.userId, r.role]));
  }

  async upsert(scope: ProjectScope, userId: string, role: ProjectRole): Promise<void> {
    await this.db
      .insertInto('projectMembers')
      .values({ projectId: scope.projectId, userId, role })
      .onConflict((oc) => oc.columns(['projectId', 'userId']).doUpdateSet({ role }))
      .execute();
  }

  async remove(scope: ProjectScope, userId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('projectMembers')
      .where('projectId', '=', scope.projectId)
      .where('userId', '=', userId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async find(scope: ProjectScope, userId: string): Promise<MemberRow | undefined> {
    return this.db
      .selectFrom('projectMembers as m')
      .innerJoin('users as u', 'u.id', 'm.userId')
      .select(['m.userId', 'u.email', 'u.name', 'm.role', 'm.createdAt'])
      .where('m.projectId', '=', scope.projectId)
      .where('m.userId', '=', userId)
      .executeTakeFirst();
  }
}

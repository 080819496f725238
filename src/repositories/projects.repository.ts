import { sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { NewProject, Project, ProjectRead, ProjectRole, ProjectStatus } from '../db/types.js';
import type { Page, PageResult } from './paging.js';
import { CompiledRead, type Db, ScopedRepository } from './scoped.repository.js';

export type ProjectWithRole = Project & { role: ProjectRole };

export interface Membership {
  readonly projectId: string;
  readonly userId: string;
  readonly role: ProjectRole;
  readonly language: string;
  /** The project row itself, read in the same query, so a plain read needs no second one. */
  readonly project: ProjectRead;
}

export interface ProjectChanges {
  readonly name?: string;
  readonly status?: ProjectStatus;
  readonly currentStep?: number;
}

/**
 * The access guard's query, run by every request to a project (compiled once: CompiledRead).
 * The project stream's current id comes in the same round trip (contract §9): a project read
 * stays one query.
 */
const MEMBERSHIP = new CompiledRead((db: Db, projectId: string, userId: string) =>
  db
    .selectFrom('projectMembers as m')
    .innerJoin('projects as p', 'p.id', 'm.projectId')
    .selectAll('p')
    .select(['m.userId', 'm.role'])
    .select(sql<number>`coalesce((SELECT s.last_event_id FROM project_streams s WHERE s.project_id = p.id), 0)`.as('streamLastEventId'))
    .where('m.projectId', '=', projectId)
    .where('m.userId', '=', userId)
    .where('p.isDeleted', '=', false),
);

export class ProjectsRepository extends ScopedRepository {
  /** The one query behind the access guard: the caller's role in a live (not deleted) project. */
  async findMembership(projectId: string, userId: string): Promise<Membership | undefined> {
    const [row] = await MEMBERSHIP.execute(this.db, projectId, userId);
    if (!row) return undefined;
    const { userId: memberId, role, streamLastEventId, ...rest } = row;
    const project: ProjectRead = { ...rest, lastEventId: streamLastEventId };
    return { projectId: project.id, userId: memberId, role, language: project.language, project };
  }

  /** Creates the project and its owner membership; call inside a transaction. */
  async createWithOwner(values: NewProject): Promise<ProjectWithRole> {
    const project = await this.db.insertInto('projects').values(values).returningAll().executeTakeFirstOrThrow();
    await this.db.insertInto('projectMembers').values({ projectId: project.id, userId: values.createdBy, role: 'owner' }).execute();
    return { ...project, role: 'owner' };
  }

  async listForUser(userId: string, page: Page, status?: ProjectStatus): Promise<PageResult<ProjectWithRole>> {
    let query = this.db
      .selectFrom('projects as p')
      .innerJoin('projectMembers as m', (join) => join.onRef('m.projectId', '=', 'p.id').on('m.userId', '=', userId))
      .where('p.isDeleted', '=', false);
    if (status !== undefined) query = query.where('p.status', '=', status);
    const [items, count] = await Promise.all([
      query
        .selectAll('p')
        .select('m.role')
        .orderBy('p.createdAt', 'desc')
        .orderBy('p.id', 'desc')
        .limit(page.limit)
        .offset(page.offset)
        .execute(),
      query.select(sql<number>`count(*)::int`.as('total')).executeTakeFirstOrThrow(),
    ]);
    return { items, total: count.total, limit: page.limit, offset: page.offset };
  }

  /**
   * With `rowVersions`, updates only a row still at one of those versions: under READ COMMITTED
   * a concurrent writer's UPDATE waits for this one, re-reads the row and then matches nothing,
   * so neither overwrites the other unseen.
   */
  async update(scope: ProjectScope, changes: ProjectChanges, rowVersions?: readonly string[]): Promise<ProjectWithRole | undefined> {
    let query = this.db.updateTable('projects').set(changes).where('id', '=', scope.projectId).where('isDeleted', '=', false);
    if (rowVersions !== undefined) query = query.where('rowVersion', 'in', rowVersions);
    const project = await query.returningAll().executeTakeFirst();
    return project && { ...project, role: scope.role };
  }

  /**
   * Inside a write transaction, after the access guard (issue 14 item 9): the caller's role now,
   * in a project that is still live, with the rows held until commit. `share` is for writes into
   * the project (several at once; a deletion or a demotion waits for them, and a write that comes
   * after them sees them); `update` is for changes to the project row itself (one at a time).
   * Lock order everywhere: the project row first, then membership rows (no deadlock between
   * these paths). Undefined when the project was deleted or the caller removed meanwhile.
   */
  async lockForWrite(scope: ProjectScope, mode: 'share' | 'update'): Promise<ProjectRole | undefined> {
    if (mode === 'update') {
      const live = await this.db
        .selectFrom('projects')
        .select('id')
        .where('id', '=', scope.projectId)
        .where('isDeleted', '=', false)
        .forNoKeyUpdate()
        .executeTakeFirst();
      if (!live) return undefined;
    }
    const row = await this.db
      .selectFrom('projects as p')
      .innerJoin('projectMembers as m', 'm.projectId', 'p.id')
      .select('m.role')
      .where('p.id', '=', scope.projectId)
      .where('p.isDeleted', '=', false)
      .where('m.userId', '=', scope.userId)
      .forShare(['p', 'm'])
      .executeTakeFirst();
    return row?.role;
  }

  /**
   * The live project row held FOR SHARE until commit, membership rows untouched (the members
   * service locks those itself, FOR UPDATE, right after). False when the project was deleted.
   */
  async lockLive(scope: ProjectScope): Promise<boolean> {
    const row = await this.db
      .selectFrom('projects')
      .select('id')
      .where('id', '=', scope.projectId)
      .where('isDeleted', '=', false)
      .forShare()
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Soft delete (REQ-008): the row stays, marked, and disappears from every read. */
  async softDelete(scope: ProjectScope): Promise<boolean> {
    const result = await this.db
      .updateTable('projects')
      .set({ isDeleted: true, deletedAt: new Date() })
      .where('id', '=', scope.projectId)
      .where('isDeleted', '=', false)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

import type { Kysely } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import { vectorScopeOf } from '../access/vector-scope.js';
import type { Database, ProjectRole, ProjectStatus } from '../db/types.js';
import { ConflictError, NotFoundError, PreconditionFailedError } from '../lib/errors.js';
import { MembersRepository } from '../repositories/members.repository.js';
import type { Page } from '../repositories/paging.js';
import { type ProjectChanges, ProjectsRepository } from '../repositories/projects.repository.js';
import type { Db } from '../repositories/scoped.repository.js';
import { UsersRepository } from '../repositories/users.repository.js';
import type { AccessNotices } from '../streaming/stream-access.js';
import { type AuditLog, actorOf } from './audit.service.js';
import type { VectorPurgeService } from './vector-purges.service.js';
import { confirmWriteAccess, noAccess, roleTooLow } from './write-access.js';

/** Projects and their members: the business rules (REQ-008). */
export class ProjectsService {
  private readonly projects: ProjectsRepository;
  private readonly members: MembersRepository;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    /** Null or absent without a vector store (QDRANT_URL unset). */
    private readonly vectorPurges: Pick<VectorPurgeService, 'enqueue' | 'purgeNow'> | null = null,
    /** Tells open streams that someone's access changed (contract §9); null where nothing streams. */
    private readonly notices: AccessNotices | null = null,
  ) {
    this.projects = new ProjectsRepository(db);
    this.members = new MembersRepository(db);
  }

  /** The creator becomes owner in the same transaction as the project (and its audit entry). */
  create(userId: string, input: { name: string; language?: string | undefined }) {
    return this.db.transaction().execute(async (tx) => {
      const project = await new ProjectsRepository(tx).createWithOwner({
        name: input.name.trim(),
        language: input.language ?? 'en',
        createdBy: userId,
      });
      await this.audit.record(tx, {
        projectId: project.id,
        actor: actorOf({ userId }),
        action: 'project.create',
        target: { type: 'project', id: project.id },
        changes: { name: project.name, language: project.language },
      });
      return project;
    });
  }

  list(userId: string, page: Page, status?: ProjectStatus) {
    return this.projects.listForUser(userId, page, status);
  }

  /**
   * Editors and owners (docs/contract.md §5); checked again under the row lock, like every write
   * here. `ifMatch`: the row versions the caller's If-Match names (from the ETags it saw); when
   * given, a project at none of them is a 412 and nothing is written (docs/contract.md §12).
   */
  async update(scope: ProjectScope, input: ProjectChanges, ifMatch?: readonly string[]) {
    const changes = { ...input, ...(input.name ? { name: input.name.trim() } : {}) };
    return this.db.transaction().execute(async (tx) => {
      const role = await confirmWriteAccess(tx, scope, 'editor', 'update');
      if (ifMatch?.length === 0) throw new PreconditionFailedError(`Project ${scope.projectId} does not have that ETag`);
      const project = await new ProjectsRepository(tx).update(scope, changes, ifMatch);
      if (!project) {
        // The row is locked and live (confirmWriteAccess): only the version can have missed.
        if (ifMatch !== undefined) throw new PreconditionFailedError(`Project ${scope.projectId} has changed since that ETag`);
        throw noAccess(scope);
      }
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'project.update',
        target: { type: 'project', id: scope.projectId },
        // The API's field names (docs/contract.md §5), as a reader of the log knows them.
        changes: {
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.status !== undefined ? { status: changes.status } : {}),
          ...(changes.currentStep !== undefined ? { current_step: changes.currentStep } : {}),
        },
      });
      return { ...project, role };
    });
  }

  /**
   * Soft delete, then the project's vectors. The row decides: once it is deleted the vectors are
   * unreachable (no scope can be granted for it), so a Qdrant outage defers their removal
   * instead of failing the deletion (issue 7). What is owed commits with the deletion
   * (`vector_purges`) and is retried in the background, across restarts (issue 14 item 9).
   */
  async delete(scope: ProjectScope): Promise<void> {
    const vectors = vectorScopeOf(scope);
    await this.db.transaction().execute(async (tx) => {
      await confirmWriteAccess(tx, scope, 'owner', 'update');
      if (!(await new ProjectsRepository(tx).softDelete(scope))) throw noAccess(scope);
      await this.vectorPurges?.enqueue(tx, vectors);
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'project.delete',
        target: { type: 'project', id: scope.projectId },
      });
    });
    await this.notices?.projectDeleted(scope.projectId);
    await this.vectorPurges?.purgeNow(vectors);
  }

  listMembers(scope: ProjectScope) {
    return this.members.list(scope);
  }

  /** Adds a member or changes a role; the last owner cannot be demoted (409). */
  async setMember(scope: ProjectScope, userId: string, role: ProjectRole) {
    const member = await this.db.transaction().execute(async (tx) => {
      const roles = await lockOwnersView(tx, scope);
      if (!(await new UsersRepository(tx).findById(userId))) throw new NotFoundError(`User ${userId} not found`);
      const members = new MembersRepository(tx);
      if (roles.get(userId) === 'owner' && role !== 'owner') assertAnotherOwner(roles, userId);
      await members.upsert(scope, userId, role);
      const member = await members.find(scope, userId);
      if (!member) throw new NotFoundError(`User ${userId} is not a member`);
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'member.put',
        target: { type: 'member', id: userId },
        changes: { role, ...(roles.has(userId) ? { previous_role: roles.get(userId) } : {}) },
      });
      return member;
    });
    await this.notices?.memberChanged(scope.projectId, userId);
    return member;
  }

  /** Removes a member; the last owner cannot be removed (409). */
  async removeMember(scope: ProjectScope, userId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const roles = await lockOwnersView(tx, scope);
      const members = new MembersRepository(tx);
      const role = roles.get(userId);
      if (role === undefined) throw new NotFoundError(`User ${userId} is not a member of this project`);
      if (role === 'owner') assertAnotherOwner(roles, userId);
      await members.remove(scope, userId);
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'member.delete',
        target: { type: 'member', id: userId },
        changes: { previous_role: role },
      });
    });
    await this.notices?.memberChanged(scope.projectId, userId);
  }
}

/**
 * Membership changes: the live project held, then every membership row locked FOR UPDATE, and
 * only then the caller's own role read — from those locked rows. Checked before the lock, two
 * owners could each act on the strength of a role the other was taking away ("A demotes B" and
 * "B demotes C" at once both succeeded, issue 14 item 9); now the second sees the first's change.
 */
async function lockOwnersView(tx: Db, scope: ProjectScope): Promise<Map<string, ProjectRole>> {
  if (!(await new ProjectsRepository(tx).lockLive(scope))) throw noAccess(scope);
  const roles = await new MembersRepository(tx).lockRoles(scope);
  const own = roles.get(scope.userId);
  if (own === undefined) throw noAccess(scope);
  if (own !== 'owner') throw roleTooLow('owner');
  return roles;
}

function assertAnotherOwner(roles: Map<string, ProjectRole>, leaving: string): void {
  const others = [...roles].filter(([id, r]) => r === 'owner' && id !== leaving);
  if (others.length === 0) throw new ConflictError('The last owner of a project cannot be removed or demoted');
}

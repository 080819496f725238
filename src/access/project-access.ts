import type { OperationCaller } from '../auth/caller.js';
import type { Project, ProjectRole } from '../db/types.js';
import { ConflictError, ForbiddenError, UnauthorizedError } from '../lib/errors.js';
import type { LeasesRepository } from '../repositories/leases.repository.js';
import type { ProjectsRepository } from '../repositories/projects.repository.js';
import { grantScope, hasRole, lowerRole, type ProjectScope } from './project-scope.js';

export interface ProjectGrant {
  readonly scope: ProjectScope;
  /** The project row, read in the same query as the membership. */
  readonly project: Project;
}

/** The most an operation token may do, whatever its creator's role (docs/contract.md §8). */
const OPERATION_TOKEN_ROLE: ProjectRole = 'editor';

/**
 * The one way to a ProjectScope (SEC-002): it runs the membership query itself, so nobody can
 * hold a scope without it. A project that does not exist, a deleted one and one the caller is
 * not in give the same 403 (no existence oracle); a role too low is a 403 too.
 */
export class ProjectAccess {
  constructor(
    private readonly projects: ProjectsRepository,
    private readonly leases: LeasesRepository,
  ) {}

  async require(projectId: string, userId: string, needed: ProjectRole): Promise<ProjectGrant> {
    const membership = await this.projects.findMembership(projectId, userId);
    if (membership === undefined) throw new ForbiddenError(`You do not have access to project ${projectId}`);
    const { project, ...access } = membership;
    const scope = grantScope(access);
    if (!hasRole(scope, needed)) throw new ForbiddenError(`This action requires the ${needed} role in the project`);
    return { scope, project };
  }

  /**
   * An operation token's scope (docs/contract.md §8, docs/adr/0020), from one query per request:
   * only its own project; only while its lease is current (else 401: the token died with its
   * lease); at most `editor` and never above the creator's current role. `ownOperation` is the
   * `:operation_id` of a route that takes an operation token for its own operation only
   * (publishing events): there any other operation is a 403, a lease no longer current is a 409
   * (fencing), and the creator's role does not matter, so a worker can always report how its
   * operation ended while its lease is current.
   */
  async requireForOperation(
    projectId: string,
    caller: OperationCaller,
    needed: ProjectRole,
    ownOperation: string | undefined,
  ): Promise<ProjectGrant> {
    const denied = new ForbiddenError(`You do not have access to project ${projectId}`);
    if (projectId !== caller.projectId) throw denied;
    if (ownOperation !== undefined && ownOperation !== caller.operationId) {
      throw new ForbiddenError('An operation token publishes to its own operation only');
    }
    const grant = await this.leases.operationGrant(caller);
    if (grant === undefined) throw denied;
    if (!grant.current) {
      if (ownOperation !== undefined) throw new ConflictError(`Lease ${caller.leaseId} is no longer current`);
      throw new UnauthorizedError('The operation token ended with its lease');
    }
    const role = grant.creatorRole === null ? null : lowerRole(grant.creatorRole, OPERATION_TOKEN_ROLE);
    if (ownOperation === undefined) {
      if (role === null) throw denied;
      if (!hasRole({ role }, needed)) throw new ForbiddenError(`This action requires the ${needed} role in the project`);
    }
    const scope = grantScope({
      projectId: grant.project.id,
      userId: caller.user.id,
      role: role ?? 'viewer',
      language: grant.project.language,
      actor: { worker: caller.worker, leaseId: caller.leaseId, operationId: caller.operationId },
    });
    return { scope, project: grant.project };
  }
}

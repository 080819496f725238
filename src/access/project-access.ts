import type { Project, ProjectRole } from '../db/types.js';
import { ForbiddenError } from '../lib/errors.js';
import type { ProjectsRepository } from '../repositories/projects.repository.js';
import { grantScope, hasRole, type ProjectScope } from './project-scope.js';

export interface ProjectGrant {
  readonly scope: ProjectScope;
  /** The project row, read in the same query as the membership. */
  readonly project: Project;
}

/**
 * The one way to a ProjectScope (SEC-002): it runs the membership query itself, so nobody can
 * hold a scope without it. A project that does not exist, a deleted one and one the caller is
 * not in give the same 403 (no existence oracle); a role too low is a 403 too.
 */
export class ProjectAccess {
  constructor(private readonly projects: ProjectsRepository) {}

  async require(projectId: string, userId: string, needed: ProjectRole): Promise<ProjectGrant> {
    const membership = await this.projects.findMembership(projectId, userId);
    if (membership === undefined) throw new ForbiddenError(`You do not have access to project ${projectId}`);
    const { project, ...access } = membership;
    const scope = grantScope(access);
    if (!hasRole(scope, needed)) throw new ForbiddenError(`This action requires the ${needed} role in the project`);
    return { scope, project };
  }
}

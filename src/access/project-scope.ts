import type { ProjectRole } from '../db/types.js';

declare const scopeBrand: unique symbol;

/**
 * The caller's access to one project, established once per request by the project-access
 * guard (SEC-002). Every project-scoped repository method takes it as its first argument;
 * it is branded so it cannot be assembled by hand from a route parameter — only
 * `grantScope` makes one, after the membership has been read from the database.
 */
export interface ProjectScope {
  readonly projectId: string;
  readonly userId: string;
  readonly role: ProjectRole;
  readonly language: string;
  readonly [scopeBrand]: true;
}

export function grantScope(membership: { projectId: string; userId: string; role: ProjectRole; language: string }): ProjectScope {
  return Object.freeze({ ...membership }) as ProjectScope;
}

export const ROLE_RANK: Readonly<Record<ProjectRole, number>> = { viewer: 1, editor: 2, owner: 3 };

export function hasRole(scope: { role: ProjectRole }, needed: ProjectRole): boolean {
  return ROLE_RANK[scope.role] >= ROLE_RANK[needed];
}

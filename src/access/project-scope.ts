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
  /** The user the request acts for: the caller, or the creator an operation token acts for. */
  readonly userId: string;
  /** The effective role: an operation token's is at most `editor` and never above its creator's. */
  readonly role: ProjectRole;
  readonly language: string;
  /** Set when an operation token acts (docs/adr/0020): writes name `userId` as author and this worker as actor. */
  readonly actor?: OperationActor | undefined;
  readonly [scopeBrand]: true;
}

/** The worker behind an operation token, and the lease and operation the token is bound to. */
export interface OperationActor {
  readonly worker: string;
  readonly leaseId: string;
  readonly operationId: string;
}

export function grantScope(membership: {
  projectId: string;
  userId: string;
  role: ProjectRole;
  language: string;
  actor?: OperationActor;
}): ProjectScope {
  return Object.freeze({ ...membership }) as ProjectScope;
}

export const ROLE_RANK: Readonly<Record<ProjectRole, number>> = { viewer: 1, editor: 2, owner: 3 };

/** The lower of two roles (an operation token: at most editor, never above its creator). */
export function lowerRole(a: ProjectRole, b: ProjectRole): ProjectRole {
  return ROLE_RANK[a] <= ROLE_RANK[b] ? a : b;
}

export function hasRole(scope: { role: ProjectRole }, needed: ProjectRole): boolean {
  return ROLE_RANK[scope.role] >= ROLE_RANK[needed];
}

/**
 * The scope the service's own jobs write an operation's events with (leasing, the lease-expiry
 * sweep): never given to a request, so no membership is read. `userId` is the nil UUID: no user.
 */
export function serviceScope(projectId: string, language = ''): ProjectScope {
  return grantScope({ projectId, userId: '00000000-0000-0000-0000-000000000000', role: 'owner', language });
}

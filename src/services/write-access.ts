import { type ProjectScope, ROLE_RANK } from '../access/project-scope.js';
import type { ProjectRole } from '../db/types.js';
import { ForbiddenError } from '../lib/errors.js';
import { ProjectsRepository } from '../repositories/projects.repository.js';
import type { Db } from '../repositories/scoped.repository.js';

/*
 * The access guard reads the caller's membership before the handler runs, outside any write
 * transaction; a deletion or a demotion can commit in between (issue 14 item 9). Writes repeat
 * the check inside their transaction, on locked rows, and answer what the guard would answer
 * to a request arriving just after: 403 for a project that is gone (docs/contract.md §4: no existence
 * oracle) or a role now too low. docs/adr/0017-no-leaks-no-races.md.
 */

export function noAccess(scope: ProjectScope): ForbiddenError {
  return new ForbiddenError(`You do not have access to project ${scope.projectId}`);
}

export function roleTooLow(needed: ProjectRole): ForbiddenError {
  return new ForbiddenError(`This action requires the ${needed} role in the project`);
}

/**
 * Call first in the write's transaction. `share` for writes into the project, `update` for
 * changes to the project row itself. Returns the caller's current role.
 */
export async function confirmWriteAccess(
  tx: Db,
  scope: ProjectScope,
  needed: ProjectRole,
  mode: 'share' | 'update' = 'share',
): Promise<ProjectRole> {
  const role = await new ProjectsRepository(tx).lockForWrite(scope, mode);
  if (role === undefined) throw noAccess(scope);
  if (ROLE_RANK[role] < ROLE_RANK[needed]) throw roleTooLow(needed);
  return role;
}

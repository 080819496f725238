import type { FastifyRequest } from 'fastify';
import type { ProjectScope } from '../../access/project-scope.js';
import type { Project, User } from '../../db/types.js';
import { InternalError } from '../../lib/errors.js';

/** The authenticated user of a non-public route (set by the auth step). */
export function userOf(request: FastifyRequest): User {
  if (request.user === null) throw new InternalError('route reached without authentication');
  return request.user;
}

/** The project row the guard read with the membership (a `{project_id}` route). */
export function projectRowOf(request: FastifyRequest): Project {
  if (request.projectRow === null) throw new InternalError('route reached without a project scope');
  return request.projectRow;
}

/** The project scope of a `{project_id}` route (set by the project-access guard). */
export function scopeOf(request: FastifyRequest): ProjectScope {
  if (request.project === null) throw new InternalError('route reached without a project scope');
  return request.project;
}

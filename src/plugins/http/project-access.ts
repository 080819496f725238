import { trace } from '@opentelemetry/api';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { grantScope, hasRole, type ProjectScope } from '../../access/project-scope.js';
import type { Project } from '../../db/types.js';
import { ForbiddenError, ValidationError } from '../../lib/errors.js';
import { currentContext } from '../../lib/request-context.js';
import { ProjectsRepository } from '../../repositories/projects.repository.js';
import { appendRouteHook } from './route-hooks.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's scope in the route's project; set by the guard on every `{project_id}` route. */
    project: ProjectScope | null;
    /** The project row as the guard read it (same query as the membership). */
    projectRow: Project | null;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Project access step (SEC-002, REQ-003): the one guard. A route under
 * `/projects/:project_id` declares the role it needs; the guard loads the caller's
 * membership once, answers 403 — the same for a project that does not exist and one the
 * caller is not in (no existence oracle) — and sets `request.project` for the handler.
 * It runs before validation of the body, so a non-member learns nothing from 422s either.
 */
const projectAccess: FastifyPluginCallback = (app, _opts, done) => {
  const projects = new ProjectsRepository(app.db);
  app.decorateRequest('project', null);
  app.decorateRequest('projectRow', null);

  const guard = async (request: FastifyRequest): Promise<void> => {
    const needed = request.routeOptions.config.projectRole ?? 'owner';
    const projectId = (request.params as { project_id?: string }).project_id ?? '';
    if (!UUID.test(projectId)) {
      throw new ValidationError('Request validation failed', [{ path: 'params/project_id', message: 'must be a UUID' }]);
    }
    const user = request.user;
    const membership = user ? await projects.findMembership(projectId.toLowerCase(), user.id) : undefined;
    if (membership === undefined) throw new ForbiddenError(`You do not have access to project ${projectId}`);
    const { project, ...access } = membership;
    const scope = grantScope(access);
    if (!hasRole(scope, needed)) throw new ForbiddenError(`This action requires the ${needed} role in the project`);
    request.project = scope;
    request.projectRow = project;
    const ctx = currentContext();
    if (ctx) ctx.project_id = scope.projectId;
    trace.getActiveSpan()?.setAttribute('project_id', scope.projectId);
  };

  // Isolation by construction: a project route that forgets to declare its role does not start.
  app.addHook('onRoute', (route) => {
    if (route.config?.projectRole !== undefined) appendRouteHook(route, 'preValidation', guard);
    else if (route.url.includes(':project_id')) {
      throw new Error(`route ${String(route.method)} ${route.url} has a project_id but declares no projectRole`);
    }
  });
  done();
};

export default fp(projectAccess, { name: 'project-access', fastify: '5.x', dependencies: ['auth'] });

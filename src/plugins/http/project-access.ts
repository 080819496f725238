import { trace } from '@opentelemetry/api';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ProjectScope } from '../../access/project-scope.js';
import type { Project } from '../../db/types.js';
import { ForbiddenError, ValidationError } from '../../lib/errors.js';
import { currentContext } from '../../lib/request-context.js';
import { isUuid } from '../../lib/uuid.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The project-access step of the request chain (installed in src/app.ts). */
    requireProjectAccess: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /** The caller's scope in the route's project; set by the guard on every `{project_id}` route. */
    project: ProjectScope | null;
    /** The project row as the guard read it (same query as the membership). */
    projectRow: Project | null;
  }
}

/** The `:operation_id` of a route that takes an operation token for its own operation only. */
function ownOperationOf(request: FastifyRequest): string | undefined {
  if (request.routeOptions.config.ownOperation !== true) return undefined;
  // Already lowered at the edge (id-params.ts), like every id path parameter.
  return (request.params as { operation_id?: string }).operation_id ?? '';
}

/**
 * Project access (SEC-002, REQ-003): the one guard. A route under `/projects/:project_id`
 * declares the role it needs; the guard has the access service load the caller's membership
 * once (src/access/project-access.ts: 403 whether or not the project exists) and sets
 * `request.project` for the handler. An operation token gets its scope from its lease and its
 * creator's current role instead (docs/adr/0020). It runs before validation of the body, so a non-member
 * learns nothing from 422s either.
 */
const projectAccess: FastifyPluginCallback = (app, _opts, done) => {
  const access = app.services.access;
  app.decorateRequest('project', null);
  app.decorateRequest('projectRow', null);

  app.decorate('requireProjectAccess', async function requireProjectAccess(request: FastifyRequest): Promise<void> {
    const needed = request.routeOptions.config.projectRole;
    if (needed === undefined) return;
    const projectId = (request.params as { project_id?: string }).project_id ?? '';
    if (!isUuid(projectId)) {
      throw new ValidationError('Request validation failed', [{ path: 'params/project_id', message: 'must be a UUID' }]);
    }
    const caller = request.caller;
    if (caller === null || request.user === null) throw new ForbiddenError(`You do not have access to project ${projectId}`);
    const { scope, project } =
      caller.kind === 'operation'
        ? await access.requireForOperation(projectId, caller, needed, ownOperationOf(request))
        : await access.require(projectId, request.user.id, needed);
    request.project = scope;
    request.projectRow = project;
    const ctx = currentContext();
    if (ctx) ctx.project_id = scope.projectId;
    trace.getActiveSpan()?.setAttribute('project_id', scope.projectId);
  });

  // Isolation by construction: a project route that forgets to declare its role does not start.
  app.addHook('onRoute', (route) => {
    if (route.config?.projectRole === undefined && route.url.includes(':project_id')) {
      throw new Error(`route ${String(route.method)} ${route.url} has a project_id but declares no projectRole`);
    }
  });
  done();
};

export default fp(projectAccess, { name: 'project-access', fastify: '5.x', dependencies: ['auth'] });

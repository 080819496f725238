import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { scopeOf } from '../../../../plugins/http/request-identity.js';
import type { AuditRow } from '../../../../repositories/audit.repository.js';
import { errorResponses, ProjectParams } from '../shared-schemas.js';
import { AuditPage, AuditQuery } from './schemas.js';

function toPublic(e: AuditRow) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    actor: { user_id: e.actorUserId, worker: e.actorWorker },
    action: e.action,
    target: { type: e.targetType, id: e.targetId },
    correlation_id: e.correlationId,
    changes: e.changes,
  };
}

/** docs/contract.md §12 Audit log: owners read who changed what, newest first. */
const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const audit = app.services.audit;

  app.get(
    '/projects/:project_id/audit',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags: ['audit'],
        operationId: 'listAuditEntries',
        summary: 'Who changed what in the project, newest first (owner only)',
        params: ProjectParams,
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errorResponses(401, 403, 422, 429, 503) },
      },
    },
    async (request) => {
      const { before, limit } = request.query;
      const page = await audit.list(scopeOf(request), before?.toLowerCase(), limit);
      return { items: page.items.map(toPublic), next_before: page.nextBefore };
    },
  );
};

export default auditRoutes;

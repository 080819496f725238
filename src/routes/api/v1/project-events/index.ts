import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { scopeOf } from '../../../../plugins/http/request-identity.js';
import { type ProjectEvent, sharedProjectEventFrames } from '../../../../streaming/project-events.js';
import { serveEventStream } from '../../../../streaming/sse-response.js';
import { eventStreamResponse, StreamHeaders, StreamQuery } from '../operations/schemas.js';
import { errorResponses, ProjectParams } from '../shared-schemas.js';

const tags = ['projects'];

/**
 * docs/contract.md §9: one stream per browser tab for everything in a project. The same stream
 * unit as an operation's (src/streaming/event-stream.ts) with the project's history and the
 * project feed as live source; it never ends by itself (no terminal event).
 */
const projectEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/projects/:project_id/events',
    {
      config: { projectRole: 'viewer', allowQueryToken: true },
      schema: {
        tags,
        operationId: 'streamProjectEvents',
        summary: 'Follow everything in a project live (Server-Sent Events); resumes after Last-Event-ID',
        description:
          "Ids are the project's own gap-free sequence. Without `Last-Event-ID` the stream starts live (read `last_event_id` from " +
          'the project first); `Last-Event-ID: 0` replays what is retained. Events: every operation event (its type, `operation_id` ' +
          'at the top of its data), `operation.created`, `document.version_created`, `message.created`, `message.delta`, ' +
          '`message.completed`, `member.changed`, `project.updated`. Notices without id: `reset`, `revoked`, `auth_expired`.',
        params: ProjectParams,
        querystring: StreamQuery,
        headers: StreamHeaders,
        response: {
          200: eventStreamResponse(
            'retry: 2000\n\nid: 12\nevent: message.delta\ndata: {"message_id":"0193a6f3-1d2e-7f30-9b4c-5d6e7f809102","seq":3,"text":"lo"}\n\n',
          ),
          ...errorResponses(401, 403, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const scope = scopeOf(request);
      const headerId = request.headers['last-event-id'];
      const asked = headerId !== undefined ? Number(headerId) : request.query.last_event_id;
      const history = app.services.projectEvents.history(scope);
      // Without an id the stream starts live: from the newest id now (contract §9).
      const afterId = asked ?? (await history.bounds()).newestId;
      await serveEventStream<ProjectEvent>(request, reply, {
        hub: app.streams,
        access: app.services.streamAccess,
        history,
        live: app.projectFeed.source(scope.projectId),
        isTerminal: () => false,
        frame: sharedProjectEventFrames,
        afterId,
        logFields: { project_id: scope.projectId },
      });
    },
  );
};

export default projectEventRoutes;

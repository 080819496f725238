import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Operation } from '../../../../db/types.js';
import { scopeOf } from '../../../../plugins/http/request-identity.js';
import { isTerminal, type OperationEvent } from '../../../../streaming/events.js';
import type { SseConnection } from '../../../../streaming/sse-connection.js';
import { retryFrame } from '../../../../streaming/sse-format.js';
import { errorResponses, ProjectParams } from '../shared-schemas.js';
import { EventCreate, EventPublic, OperationCreate, OperationParams, OperationPublic, StreamHeaders, StreamQuery } from './schemas.js';

function toPublic(o: Operation) {
  return {
    id: o.id,
    project_id: o.projectId,
    kind: o.kind,
    status: o.status,
    input: o.input,
    error: o.error,
    created_by: o.createdBy,
    created_at: o.createdAt.toISOString(),
    started_at: o.startedAt?.toISOString() ?? null,
    completed_at: o.completedAt?.toISOString() ?? null,
  };
}

/** How long a browser waits before reconnecting after the stream drops. */
const RETRY_MS = 2_000;
const tags = ['operations'];

/** docs/contract.md §5 Operations and progress streaming (REQ-006, PERF-002). */
const operationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.services.operations;

  app.post(
    '/projects/:project_id/operations',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'createOperation',
        summary: 'Start a long-running operation (agent run, export)',
        params: ProjectParams,
        body: OperationCreate,
        response: { 201: OperationPublic, ...errorResponses(400, 401, 403, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const operation = await service.create(scopeOf(request), request.body.kind, request.body.input);
      return reply.code(201).send(toPublic(operation));
    },
  );

  app.get(
    '/projects/:project_id/operations/:operation_id',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'getOperation',
        summary: 'Current status of an operation',
        params: OperationParams,
        response: { 200: OperationPublic, ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    async (request) => toPublic(await service.get(scopeOf(request), request.params.operation_id)),
  );

  app.post(
    '/projects/:project_id/operations/:operation_id/events',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'publishOperationEvent',
        summary: 'Publish a progress event; a terminal status ends the operation',
        params: OperationParams,
        body: EventCreate,
        response: { 202: EventPublic, ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const event = await service.publish(scopeOf(request), request.params.operation_id, request.body);
      return reply.code(202).send(event);
    },
  );

  app.get(
    '/projects/:project_id/operations/:operation_id/events',
    {
      config: { projectRole: 'viewer', allowQueryToken: true },
      schema: {
        tags,
        operationId: 'streamOperationEvents',
        summary: 'Follow an operation live (Server-Sent Events); resumes after Last-Event-ID',
        description:
          'Each event: `id`, `event` (its type) and `data` (the event as JSON). `: keepalive` comments after SSE_KEEPALIVE_SECONDS of ' +
          'silence. With `Last-Event-ID` (or `last_event_id`) the retained events after it are replayed first; if some were already ' +
          'dropped, an `event: reset` with `{"oldest_id"}` comes first. The stream ends after the event with a terminal status.',
        params: OperationParams,
        querystring: StreamQuery,
        headers: StreamHeaders,
        response: {
          200: {
            description: 'The event stream (text/event-stream)',
            content: {
              'text/event-stream': {
                schema: { type: 'string' },
                example:
                  'retry: 2000\n\nid: 4\nevent: progress\ndata: {"id":4,"operation_id":"0193a6f3-1d2e-7f30-9b4c-5d6e7f809102",' +
                  '"type":"progress","data":{"percent":40},"status":"running","created_at":"2026-11-25T12:00:05.000Z"}\n\n: keepalive\n\n',
              },
            },
          },
          ...errorResponses(401, 403, 404, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const scope = scopeOf(request);
      const operation = await service.get(scope, request.params.operation_id);
      const headerId = request.headers['last-event-id'];
      const after = headerId !== undefined ? Number(headerId) : (request.query.last_event_id ?? 0);
      const key = { projectId: scope.projectId, operationId: operation.id };

      // Subscribe before reading the history, buffer what arrives meanwhile, then replay and
      // drain the buffer: nothing published during the hand-over is lost, and the connection
      // drops duplicates by id.
      let connection: SseConnection | undefined;
      const buffered: OperationEvent[] = [];
      const deliver = (event: OperationEvent) => {
        if (!connection) {
          buffered.push(event);
          return;
        }
        connection.sendEvent(event);
        if (isTerminal(event.status)) connection.close('completed');
      };
      const unsubscribe = await app.eventBus.subscribe(key, deliver);
      let history: Awaited<ReturnType<typeof app.eventBus.history>>;
      try {
        history = await app.eventBus.history(key, after);
      } catch (error) {
        unsubscribe();
        throw error;
      }

      reply.hijack();
      // Hijacked: Fastify no longer sends the headers the chain set (security, CORS, correlation id).
      reply.raw.writeHead(200, {
        ...(reply.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      // A stream lives for minutes and there may be thousands: keep only what the close log
      // needs, not the request with its user and project rows (PERF-002, bench `sse-fanout`).
      const log = request.log;
      const correlationId = request.id;
      const operationId = operation.id;
      const ended = isTerminal(operation.status);
      request.user = null;
      request.projectRow = null;
      const opened = performance.now();
      connection = app.streams.connect(reply.raw, (reason) => {
        unsubscribe();
        log.info(
          {
            correlation_id: correlationId,
            operation_id: operationId,
            reason,
            last_event_id: connection?.lastId,
            duration_ms: Math.round(performance.now() - opened),
          },
          'event stream closed',
        );
      });
      connection.lastId = after;
      connection.write(retryFrame(RETRY_MS));
      if (history.reset) connection.sendNotice('reset', history.reset);
      for (const event of [...history.events, ...buffered.splice(0)]) deliver(event);
      // An operation that ended before this request, whose terminal event is no longer retained.
      if (ended) connection.close('completed');
    },
  );
};

export default operationRoutes;

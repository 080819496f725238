import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { scopeOf } from '../../../../plugins/http/request-identity.js';
import { isTerminal, type OperationStreamEvent, operationChannel } from '../../../../streaming/events.js';
import { sharedEventFrames } from '../../../../streaming/sse-format.js';
import { serveEventStream } from '../../../../streaming/sse-response.js';
import { errorResponses, IdempotentWriteHeaders, ProjectParams } from '../shared-schemas.js';
import { toPublic } from './operation-public.js';
import {
  CancelBody,
  EventCreate,
  EventPublic,
  eventStreamResponse,
  OperationCreate,
  OperationParams,
  OperationPublic,
  StreamHeaders,
  StreamQuery,
} from './schemas.js';

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
        headers: IdempotentWriteHeaders,
        body: OperationCreate,
        response: { 201: OperationPublic, ...errorResponses(400, 401, 403, 409, 413, 422, 429, 503) },
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
      config: { projectRole: 'editor', ownOperation: true },
      schema: {
        tags,
        operationId: 'publishOperationEvent',
        summary: 'Publish a progress event; a terminal status ends the operation',
        description:
          'An operation token publishes to its own operation only, while its lease is current (else 409); the event extends the lease. ' +
          'A `seq` already published answers 200 with the stored event and delivers nothing again. Types starting with `operation.` ' +
          'are the service’s own (422).',
        params: OperationParams,
        body: EventCreate,
        response: {
          200: EventPublic,
          202: EventPublic,
          ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { event, duplicate } = await service.publishOnce(scopeOf(request), request.params.operation_id, request.body);
      return reply.code(duplicate ? 200 : 202).send(event);
    },
  );

  app.post(
    '/projects/:project_id/operations/:operation_id/cancel',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'cancelOperation',
        summary: 'Cancel an operation (docs/contract.md §8)',
        description:
          'A pending operation ends `cancelled` at once; a running one reports `cancel_requested: true` on its next heartbeat and ends ' +
          '`cancelled` when its worker says so or its lease runs out. The last event is `operation.cancelled`. 409 when it already ' +
          'completed or failed.',
        params: OperationParams,
        body: CancelBody,
        response: { 202: OperationPublic, ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const operation = await service.cancel(scopeOf(request), request.params.operation_id);
      return reply.code(202).send(toPublic(operation));
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
          200: eventStreamResponse(
            'retry: 2000\n\nid: 4\nevent: progress\ndata: {"id":4,"operation_id":"0193a6f3-1d2e-7f30-9b4c-5d6e7f809102",' +
              '"type":"progress","data":{"percent":40},"status":"running","created_at":"2026-11-25T12:00:05.000Z"}\n\n: keepalive\n\n',
          ),
          ...errorResponses(401, 403, 404, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const scope = scopeOf(request);
      const operation = await service.get(scope, request.params.operation_id);
      const headerId = request.headers['last-event-id'];
      const afterId = headerId !== undefined ? Number(headerId) : (request.query.last_event_id ?? 0);
      const channel = operationChannel({ projectId: scope.projectId, operationId: operation.id });
      await serveEventStream<OperationStreamEvent>(request, reply, {
        hub: app.streams,
        access: app.services.streamAccess,
        history: service.history(scope, operation.id),
        live: { subscribe: (listener) => app.eventBus.subscribe(channel, listener) },
        isTerminal: (event) => isTerminal(event.status),
        frame: sharedEventFrames,
        afterId,
        endedBefore: isTerminal(operation.status),
        logFields: { operation_id: operation.id },
      });
    },
  );
};

export default operationRoutes;

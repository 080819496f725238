import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import type { Message } from '../../../../db/types.js';
import { ValidationError, type ValidationIssue } from '../../../../lib/errors.js';
import { replyWithEtag, strongEtag } from '../../../../plugins/http/etag.js';
import { scopeOf } from '../../../../plugins/http/request-identity.js';
import { AGENT_REPLY_KIND } from '../../../../services/messages.service.js';
import { ConditionalReadHeaders, errorResponses, NotModified, ProjectParams } from '../shared-schemas.js';
import {
  DeltaCreate,
  DeltaPublic,
  MessageCreate,
  MessageCreated,
  MessageFinish,
  MessageList,
  MessageListQuery,
  MessageParams,
  MessagePublic,
} from './schemas.js';

function toMessagePublic(m: Message) {
  return {
    id: m.id,
    seq: m.seq,
    role: m.role,
    author: { user_id: m.authorUserId, agent: m.authorAgent },
    content: m.content,
    last_delta_seq: m.lastDeltaSeq,
    status: m.status,
    metadata: m.metadata,
    reply_to: m.replyTo,
    operation_id: m.operationId,
    created_at: m.createdAt.toISOString(),
    completed_at: m.completedAt?.toISOString() ?? null,
  };
}

/** What the schema cannot say: which fields go with which role, and ids unique within a message. */
function shapeIssues(body: Static<typeof MessageCreate>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const only = (field: 'reply_to' | 'status' | 'content' | 'reply', role: string) => {
    if (body[field] !== undefined) issues.push({ path: `/${field}`, message: `not allowed in a ${role} message` });
  };
  if ((body.role ?? 'user') === 'user') {
    if (body.content === undefined) issues.push({ path: '/content', message: 'required' });
    only('reply_to', 'user');
    only('status', 'user');
  } else {
    if (body.reply_to === undefined) issues.push({ path: '/reply_to', message: 'required' });
    only('content', 'assistant');
    only('reply', 'assistant');
  }
  const duplicates = (ids: readonly string[], path: string) => {
    if (new Set(ids).size !== ids.length) issues.push({ path, message: 'ids must be unique' });
  };
  const questions = body.metadata?.questions ?? [];
  duplicates(
    questions.map((q) => q.id),
    '/metadata/questions',
  );
  questions.forEach((q, i) => {
    duplicates(
      q.options.map((o) => o.id),
      `/metadata/questions/${i}/options`,
    );
  });
  duplicates(
    (body.metadata?.answers ?? []).map((a) => a.question_id),
    '/metadata/answers',
  );
  return issues;
}

const tags = ['messages'];

/** docs/contract.md §10 Conversation. Project events come from the database (docs/adr/0022). */
const messageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.services.messages;

  app.post(
    '/projects/:project_id/messages',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'createMessage',
        summary: "A user's message (and the agent.reply operation that answers it), or an agent's reply opened for streaming",
        params: ProjectParams,
        body: MessageCreate,
        response: { 201: MessageCreated, ...errorResponses(400, 401, 403, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const issues = shapeIssues(body);
      if (issues.length > 0) throw new ValidationError('Request validation failed', issues);
      const scope = scopeOf(request);
      if ((body.role ?? 'user') === 'assistant') {
        const message = await service.createAssistantMessage(scope, { replyTo: body.reply_to as string, metadata: body.metadata });
        return reply.code(201).send({ message: toMessagePublic(message), operation: null });
      }
      const { message, operationId } = await service.createUserMessage(scope, {
        content: body.content as string,
        metadata: body.metadata,
        reply: body.reply,
      });
      const operation = operationId ? { id: operationId, kind: AGENT_REPLY_KIND, status: 'pending' } : null;
      return reply.code(201).send({ message: toMessagePublic(message), operation });
    },
  );

  app.get(
    '/projects/:project_id/messages',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'listMessages',
        summary: "The conversation, newest first, in pages (`before` = the previous page's `next_before`)",
        params: ProjectParams,
        querystring: MessageListQuery,
        response: { 200: MessageList, ...errorResponses(401, 403, 422, 429, 503) },
      },
    },
    async (request) => {
      const page = await service.list(scopeOf(request), request.query.before, request.query.limit);
      return { items: page.items.map(toMessagePublic), next_before: page.nextBefore };
    },
  );

  app.get(
    '/projects/:project_id/messages/:message_id',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'getMessage',
        summary: 'One message (a streaming reply holds the deltas applied so far)',
        description:
          'Answers with an `ETag` (it changes with each applied delta and when the message ends); a matching `If-None-Match` gets 304.',
        params: MessageParams,
        headers: ConditionalReadHeaders,
        response: { 200: MessagePublic, 304: NotModified, ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const message = await service.get(scopeOf(request), request.params.message_id);
      // A message changes only by deltas (last_delta_seq) and by ending (status): the two name its state.
      return replyWithEtag(request, reply, strongEtag(`${message.id}-${message.lastDeltaSeq}-${message.status}`), toMessagePublic(message));
    },
  );

  app.post(
    '/projects/:project_id/messages/:message_id/deltas',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'appendMessageDelta',
        summary: 'Append text to a streaming reply (the operation token that wrote it); idempotent per seq, a gap is 409',
        params: MessageParams,
        body: DeltaCreate,
        response: { 200: DeltaPublic, 202: DeltaPublic, ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { seq, text } = request.body;
      const outcome = await service.appendDelta(scopeOf(request), request.params.message_id, seq, text);
      return reply
        .code(outcome.applied ? 202 : 200)
        .send({ message_id: outcome.message.id, seq, last_seq: outcome.message.lastDeltaSeq, applied: outcome.applied });
    },
  );

  app.patch(
    '/projects/:project_id/messages/:message_id',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'finishMessage',
        summary: 'End a streaming reply as complete or failed (the operation token that wrote it)',
        params: MessageParams,
        body: MessageFinish,
        response: { 200: MessagePublic, ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503) },
      },
    },
    async (request) => toMessagePublic(await service.finish(scopeOf(request), request.params.message_id, request.body.status)),
  );
};

export default messageRoutes;

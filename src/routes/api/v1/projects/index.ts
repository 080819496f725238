import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ifMatchOf, replyWithEtag, strongEtag } from '../../../../plugins/http/etag.js';
import { projectRowOf, scopeOf, userOf } from '../../../../plugins/http/request-identity.js';
import type { MemberRow } from '../../../../repositories/members.repository.js';
import type { ProjectWithRole } from '../../../../repositories/projects.repository.js';
import {
  ConditionalReadHeaders,
  ConditionalWriteHeaders,
  errorResponses,
  IdempotentWriteHeaders,
  NotModified,
  ProjectParams,
} from '../shared-schemas.js';
import {
  MemberList,
  MemberParams,
  MemberPublic,
  MemberUpdate,
  ProjectCreate,
  ProjectList,
  ProjectListQuery,
  ProjectPublic,
  ProjectUpdate,
} from './schemas.js';

function toProjectPublic(p: ProjectWithRole) {
  return {
    id: p.id,
    name: p.name,
    language: p.language,
    status: p.status,
    current_step: p.currentStep,
    created_by: p.createdBy,
    created_at: p.createdAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
    role: p.role,
  };
}

/**
 * A project's ETag: its row version (bumped by the database on every write) and the caller's
 * role, which is part of the representation (docs/adr/0021).
 */
function projectEtag(p: { rowVersion: string; role: string }): string {
  return strongEtag(`${p.rowVersion}-${p.role}`);
}

/** The row versions an If-Match names for this caller's role; undefined without a condition. */
function rowVersionsOf(condition: ReturnType<typeof ifMatchOf>, role: string): readonly string[] | undefined {
  if (condition.kind !== 'tags') return undefined;
  const versions: string[] = [];
  for (const tag of condition.tags) {
    const match = /^"(\d{1,19})-([a-z]+)"$/.exec(tag);
    if (match?.[1] !== undefined && match[2] === role) versions.push(match[1]);
  }
  return versions;
}

function toMemberPublic(m: MemberRow) {
  return { user_id: m.userId, email: m.email, name: m.name, role: m.role, created_at: m.createdAt.toISOString() };
}

const tags = ['projects'];

/** docs/contract.md §5 Projects. Roles are declared per route; the project-access guard enforces them. */
const projectRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.services.projects;

  app.post(
    '/projects',
    {
      schema: {
        tags,
        operationId: 'createProject',
        summary: 'Create a project; the caller becomes its owner',
        headers: IdempotentWriteHeaders,
        body: ProjectCreate,
        response: { 201: ProjectPublic, ...errorResponses(400, 401, 409, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const project = await service.create(userOf(request).id, request.body);
      return reply.code(201).header('etag', projectEtag(project)).send(toProjectPublic(project));
    },
  );

  app.get(
    '/projects',
    {
      schema: {
        tags,
        operationId: 'listProjects',
        summary: "The caller's projects",
        querystring: ProjectListQuery,
        response: { 200: ProjectList, ...errorResponses(401, 422, 429, 503) },
      },
    },
    async (request) => {
      const { limit, offset, status } = request.query;
      const page = await service.list(userOf(request).id, { limit, offset }, status);
      return { ...page, items: page.items.map(toProjectPublic) };
    },
  );

  app.get(
    '/projects/:project_id',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'getProject',
        summary: 'One project',
        description: 'Answers with an `ETag`; with a matching `If-None-Match`, 304 and no body.',
        params: ProjectParams,
        headers: ConditionalReadHeaders,
        response: { 200: ProjectPublic, 304: NotModified, ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    // The guard has just read the row with the membership: no second query.
    async (request, reply) => {
      const project = { ...projectRowOf(request), role: scopeOf(request).role };
      return replyWithEtag(request, reply, projectEtag(project), toProjectPublic(project));
    },
  );

  app.patch(
    '/projects/:project_id',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'updateProject',
        summary: 'Rename, change status or step (language is immutable)',
        description: "With `If-Match` (the project's `ETag`), a project changed since is a 412 and nothing is written.",
        params: ProjectParams,
        headers: ConditionalWriteHeaders,
        body: ProjectUpdate,
        response: { 200: ProjectPublic, ...errorResponses(400, 401, 403, 404, 412, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { name, status, current_step } = request.body;
      const changes = {
        ...(name !== undefined ? { name } : {}),
        ...(status !== undefined ? { status } : {}),
        ...(current_step !== undefined ? { currentStep: current_step } : {}),
      };
      const scope = scopeOf(request);
      const project = await service.update(scope, changes, rowVersionsOf(ifMatchOf(request), scope.role));
      reply.header('etag', projectEtag(project));
      return toProjectPublic(project);
    },
  );

  app.delete(
    '/projects/:project_id',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags,
        operationId: 'deleteProject',
        summary: 'Soft-delete a project (owner only)',
        params: ProjectParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      await service.delete(scopeOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/projects/:project_id/members',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'listMembers',
        summary: 'Members of a project with their roles',
        params: ProjectParams,
        response: { 200: MemberList, ...errorResponses(401, 403, 422, 429, 503) },
      },
    },
    async (request) => ({ items: (await service.listMembers(scopeOf(request))).map(toMemberPublic) }),
  );

  app.put(
    '/projects/:project_id/members/:user_id',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags,
        operationId: 'setMember',
        summary: 'Add a member or change a role (owner only); the last owner cannot be demoted',
        params: MemberParams,
        body: MemberUpdate,
        response: { 200: MemberPublic, ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503) },
      },
    },
    async (request) => toMemberPublic(await service.setMember(scopeOf(request), request.params.user_id.toLowerCase(), request.body.role)),
  );

  app.delete(
    '/projects/:project_id/members/:user_id',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags,
        operationId: 'removeMember',
        summary: 'Remove a member (owner only); the last owner cannot be removed',
        params: MemberParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(401, 403, 404, 409, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      await service.removeMember(scopeOf(request), request.params.user_id.toLowerCase());
      return reply.code(204).send(null);
    },
  );
};

export default projectRoutes;

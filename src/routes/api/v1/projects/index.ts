import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { projectRowOf, scopeOf, userOf } from '../../../../plugins/http/request-identity.js';
import type { MemberRow } from '../../../../repositories/members.repository.js';
import type { ProjectWithRole } from '../../../../repositories/projects.repository.js';
import { errorResponses, ProjectParams } from '../shared-schemas.js';
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
        body: ProjectCreate,
        response: { 201: ProjectPublic, ...errorResponses(400, 401, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const project = await service.create(userOf(request).id, request.body);
      return reply.code(201).send(toProjectPublic(project));
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
        params: ProjectParams,
        response: { 200: ProjectPublic, ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    // The guard has just read the row with the membership: no second query.
    async (request) => toProjectPublic({ ...projectRowOf(request), role: scopeOf(request).role }),
  );

  app.patch(
    '/projects/:project_id',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'updateProject',
        summary: 'Rename, change status or step (language is immutable)',
        params: ProjectParams,
        body: ProjectUpdate,
        response: { 200: ProjectPublic, ...errorResponses(400, 401, 403, 404, 413, 422, 429, 503) },
      },
    },
    async (request) => {
      const { name, status, current_step } = request.body;
      const changes = {
        ...(name !== undefined ? { name } : {}),
        ...(status !== undefined ? { status } : {}),
        ...(current_step !== undefined ? { currentStep: current_step } : {}),
      };
      return toProjectPublic(await service.update(scopeOf(request), changes));
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

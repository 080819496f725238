import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DocumentVersion } from '../../../../db/types.js';
import { ifMatchHolds, ifMatchOf, replyWithEtag, strongEtag } from '../../../../plugins/http/etag.js';
import { scopeOf } from '../../../../plugins/http/request-identity.js';
import type { VersionSummary } from '../../../../repositories/documents.repository.js';
import {
  ConditionalIdempotentWriteHeaders,
  ConditionalReadHeaders,
  errorResponses,
  NotModified,
  ProjectParams,
} from '../shared-schemas.js';
import {
  DocumentParams,
  DocumentVersionCreate,
  DocumentVersionList,
  DocumentVersionPublic,
  LatestDocuments,
  VersionListQuery,
  VersionParams,
} from './schemas.js';

function toSummary(d: VersionSummary) {
  return {
    id: d.id,
    project_id: d.projectId,
    document_type: d.documentType,
    version: d.version,
    metadata: d.metadata,
    readability_score: d.readabilityScore,
    grammar_score: d.grammarScore,
    created_by: d.createdBy,
    created_at: d.createdAt.toISOString(),
  };
}

/** A version is immutable: its id is its ETag (docs/adr/0021). */
function versionEtag(id: string): string {
  return strongEtag(id);
}

function toPublic(d: DocumentVersion) {
  return { ...toSummary(d), content: d.content };
}

const tags = ['documents'];

/** docs/contract.md §5 Documents (linear versioning). */
const documentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.services.documents;

  app.post(
    '/projects/:project_id/documents/:document_type/versions',
    {
      config: { projectRole: 'editor' },
      schema: {
        tags,
        operationId: 'createDocumentVersion',
        summary: 'Write the next version of a document',
        description:
          'With `If-Match` (the `ETag` of the latest version, from `GET …/versions/latest`), a document that has a newer ' +
          'version, or none, is a 412 and nothing is written.',
        params: DocumentParams,
        headers: ConditionalIdempotentWriteHeaders,
        body: DocumentVersionCreate,
        response: { 201: DocumentVersionPublic, ...errorResponses(400, 401, 403, 409, 412, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const condition = ifMatchOf(request);
      const created = await service.append(
        scopeOf(request),
        request.params.document_type,
        request.body,
        condition.kind === 'none' ? undefined : (latestId) => ifMatchHolds(condition, latestId && versionEtag(latestId)),
      );
      return reply.code(201).header('etag', versionEtag(created.id)).send(toPublic(created));
    },
  );

  app.get(
    '/projects/:project_id/documents',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'listLatestDocuments',
        summary: 'The latest version of each document type',
        params: ProjectParams,
        response: { 200: LatestDocuments, ...errorResponses(401, 403, 422, 429, 503) },
      },
    },
    async (request) => ({ items: (await service.latest(scopeOf(request))).map(toPublic) }),
  );

  app.get(
    '/projects/:project_id/documents/:document_type/versions',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'listDocumentVersions',
        summary: 'Versions of a document, newest first, without content',
        params: DocumentParams,
        querystring: VersionListQuery,
        response: { 200: DocumentVersionList, ...errorResponses(401, 403, 422, 429, 503) },
      },
    },
    async (request) => {
      const page = await service.list(scopeOf(request), request.params.document_type, request.query);
      return { ...page, items: page.items.map(toSummary) };
    },
  );

  app.get(
    '/projects/:project_id/documents/:document_type/versions/:version',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'getDocumentVersion',
        summary: 'One version of a document, or "latest"',
        description: 'Answers with an `ETag`; with a matching `If-None-Match`, 304 and no body.',
        params: VersionParams,
        headers: ConditionalReadHeaders,
        response: { 200: DocumentVersionPublic, 304: NotModified, ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { document_type, version } = request.params;
      const found = await service.get(scopeOf(request), document_type, version === 'latest' ? 'latest' : Number(version));
      return replyWithEtag(request, reply, versionEtag(found.id), toPublic(found));
    },
  );
};

export default documentRoutes;

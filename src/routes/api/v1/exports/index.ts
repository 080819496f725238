import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { scopeOf } from '../../../../plugins/http/request-identity.js';
import { toPublic as operationPublic } from '../operations/operation-public.js';
import { errorResponses, ProjectParams } from '../shared-schemas.js';
import { DownloadHeaders, DownloadParams, DownloadQuery, ExportCreate, ExportCreated, ExportParams, ExportPublic } from './schemas.js';

const tags = ['exports'];

/** `Content-Disposition` for the archive: the slug as is when it is plain ASCII, RFC 6266 `filename*` always. */
function contentDisposition(fileName: string): string {
  const ascii = /^[a-z0-9.-]+$/.test(fileName) ? fileName : 'export.zip';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

/** docs/contract.md §11 Export. */
const exportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.services.exports;

  app.post(
    '/projects/:project_id/exports',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'createExport',
        summary: 'Export the project as a ZIP of its latest documents (runs as an `export` operation)',
        description:
          'Progress comes as `export.progress` events (one per document) on the operation stream and the project stream; ' +
          'the last event is `export.completed` (or `export.failed`). Then GET the export for its signed `download_url`.',
        params: ProjectParams,
        body: ExportCreate,
        response: { 202: ExportCreated, ...errorResponses(400, 401, 403, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const created = await service.create(scopeOf(request));
      return reply.code(202).send({ export: created.export, operation: operationPublic(created.operation) });
    },
  );

  app.get(
    '/projects/:project_id/exports/:export_id',
    {
      config: { projectRole: 'viewer' },
      schema: {
        tags,
        operationId: 'getExport',
        summary: 'An export: its status, and a signed download link once it is ready',
        params: ExportParams,
        response: { 200: ExportPublic, ...errorResponses(401, 403, 404, 422, 429, 503) },
      },
    },
    async (request) => service.get(scopeOf(request), request.params.export_id),
  );

  app.get(
    '/exports/:export_id/download',
    {
      // Public by signature: src/plugins/http/route-policy.ts (SIGNED_LINK_ROUTES) says so.
      schema: {
        tags,
        operationId: 'downloadExport',
        summary: 'Download an export archive with its signed link (no Authorization needed)',
        description:
          'A tampered, expired or foreign signature, or one of a user who can no longer read the project → 403 (always the same ' +
          "body); past EXPORT_TTL_HOURS → 410. `ETag` is the archive's quoted SHA-256; `If-None-Match` with it → 304.",
        params: DownloadParams,
        querystring: DownloadQuery,
        headers: DownloadHeaders,
        response: {
          200: {
            description: 'The archive (application/zip), streamed with Content-Length, Content-Disposition and ETag',
            content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } },
          },
          304: { description: 'Not modified (If-None-Match matched the ETag)', type: 'null' },
          ...errorResponses(403, 410, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const download = await service.download(request.params.export_id, request.query.sig);
      const etag = `"${download.sha256}"`;
      reply.header('etag', etag).header('cache-control', 'private, no-cache');
      if (request.headers['if-none-match'] === etag) {
        download.body.destroy();
        return reply.code(304).send(null);
      }
      return reply
        .header('content-type', 'application/zip')
        .header('content-length', String(download.bytes))
        .header('content-disposition', contentDisposition(download.fileName))
        .send(download.body);
    },
  );
};

export default exportRoutes;

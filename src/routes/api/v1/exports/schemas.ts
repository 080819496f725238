import { Type } from 'typebox';
import { OperationPublic } from '../operations/schemas.js';
import { Timestamp, Uuid } from '../shared-schemas.js';

export const ExportCreate = Type.Object({}, { $id: 'ExportCreate', additionalProperties: false, examples: [{}] });

export const ExportPublic = Type.Object(
  {
    id: Uuid,
    status: Type.Union([
      Type.Literal('pending'),
      Type.Literal('running'),
      Type.Literal('ready'),
      Type.Literal('failed'),
      Type.Literal('expired'),
    ]),
    bytes: Type.Union([Type.Integer(), Type.Null()], { description: 'Size of the archive; null until ready' }),
    sha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()], {
      description: 'Hex SHA-256 of the archive (also its ETag); null until ready',
    }),
    created_at: Timestamp,
    expires_at: Timestamp,
    download_url: Type.Union([Type.String(), Type.Null()], {
      description:
        'Signed for the caller; works without Authorization for 10 minutes. Null until ready; GET the export again for a fresh one.',
    }),
  },
  {
    $id: 'ExportPublic',
    description: 'An export of the project: a ZIP of its latest documents and a manifest (docs/contract.md §11)',
    examples: [
      {
        id: '0193a6f4-2e3f-7a41-8c5d-6e7f8091a2b3',
        status: 'ready',
        bytes: 4096,
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        created_at: '2026-11-25T12:00:00.000Z',
        expires_at: '2026-11-26T12:00:00.000Z',
        download_url:
          '/api/v1/exports/0193a6f4-2e3f-7a41-8c5d-6e7f8091a2b3/download?sig=1764072600.0193a6f1-6b2c-7d3e-9f40-1a2b3c4d5e6f.' +
          'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF',
      },
    ],
  },
);

/** The body of POST …/exports: the export, and the operation that builds it (its progress is on both streams). */
export const ExportCreated = Type.Object(
  { export: Type.Object(ExportPublic.properties), operation: Type.Object(OperationPublic.properties) },
  { $id: 'ExportCreated', description: 'The export and the `export` operation that builds it' },
);

export const ExportParams = Type.Object({ project_id: Uuid, export_id: Uuid });

export const DownloadParams = Type.Object({ export_id: Uuid });

export const DownloadQuery = Type.Object({
  sig: Type.String({ minLength: 1, maxLength: 200, description: 'The signature from download_url' }),
});

export const DownloadHeaders = Type.Object({
  'if-none-match': Type.Optional(Type.String({ maxLength: 200 })),
});

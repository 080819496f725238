import { Type } from 'typebox';
import { PaginationQuery, Timestamp, Uuid } from '../shared-schemas.js';

export const DocumentTypeSchema = Type.Union(
  [Type.Literal('about'), Type.Literal('specs'), Type.Literal('architecture'), Type.Literal('plan')],
  { description: 'about, specs, architecture or plan' },
);

const Metadata = Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form JSON object' });

export const DocumentVersionCreate = Type.Object(
  { content: Type.String({ maxLength: 900_000 }), metadata: Type.Optional(Metadata) },
  {
    $id: 'DocumentVersionCreate',
    additionalProperties: false,
    examples: [{ content: '# Idea\n\nA bike-sharing app.', metadata: { author: 'agent' } }],
  },
);

const summaryFields = {
  id: Uuid,
  project_id: Uuid,
  document_type: DocumentTypeSchema,
  version: Type.Integer({ minimum: 1 }),
  metadata: Metadata,
  readability_score: Type.Union([Type.Number(), Type.Null()]),
  grammar_score: Type.Union([Type.Number(), Type.Null()]),
  created_by: Uuid,
  created_at: Timestamp,
};

export const DocumentVersionSummary = Type.Object(summaryFields, {
  $id: 'DocumentVersionSummary',
  description: 'A version of a document without its content',
});

export const DocumentVersionPublic = Type.Object(
  { ...summaryFields, content: Type.String() },
  {
    $id: 'DocumentVersionPublic',
    description: 'A version of a document with its content',
    examples: [
      {
        id: '0193a6f4-2e3f-7041-8c5d-6e7f80910213',
        project_id: '0193a6f2-0c1d-7e2f-8a3b-4c5d6e7f8091',
        document_type: 'about',
        version: 3,
        metadata: { author: 'agent' },
        readability_score: null,
        grammar_score: null,
        created_by: '0193a6f1-6b2c-7d3e-9f40-1a2b3c4d5e6f',
        created_at: '2026-11-25T12:00:00.000Z',
        content: '# Idea\n\nA bike-sharing app.',
      },
    ],
  },
);

export const DocumentVersionList = Type.Object(
  { items: Type.Array(DocumentVersionSummary), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() },
  { $id: 'DocumentVersionList', description: 'A page of versions, newest first' },
);

export const LatestDocuments = Type.Object(
  { items: Type.Array(DocumentVersionPublic) },
  { $id: 'LatestDocuments', description: 'The latest version of each document type that has one' },
);

export const DocumentParams = Type.Object({ project_id: Uuid, document_type: DocumentTypeSchema });

export const VersionParams = Type.Object({
  project_id: Uuid,
  document_type: DocumentTypeSchema,
  version: Type.String({ pattern: '^(latest|[1-9][0-9]{0,8})$', description: 'A version number or "latest"' }),
});

export const VersionListQuery = Type.Object(PaginationQuery, { additionalProperties: false });

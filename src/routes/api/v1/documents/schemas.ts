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

export const DocumentVersionSummary = Type.Object(summaryFields, { $id: 'DocumentVersionSummary' });

export const DocumentVersionPublic = Type.Object({ ...summaryFields, content: Type.String() }, { $id: 'DocumentVersionPublic' });

export const DocumentVersionList = Type.Object(
  { items: Type.Array(DocumentVersionSummary), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() },
  { $id: 'DocumentVersionList' },
);

export const LatestDocuments = Type.Object({ items: Type.Array(DocumentVersionPublic) }, { $id: 'LatestDocuments' });

export const DocumentParams = Type.Object({ project_id: Uuid, document_type: DocumentTypeSchema });

export const VersionParams = Type.Object({
  project_id: Uuid,
  document_type: DocumentTypeSchema,
  version: Type.String({ pattern: '^(latest|[1-9][0-9]{0,8})$', description: 'A version number or "latest"' }),
});

export const VersionListQuery = Type.Object(PaginationQuery, { additionalProperties: false });

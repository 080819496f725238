import { createHash } from 'node:crypto';
import type { Schemas } from '@qdrant/js-client-rest';
import type { DocumentType } from '../db/types.js';
import type { ProjectScope } from './project-scope.js';

/*
 * The isolation core of the vector store (issue 7, SEC-002): the scope every vector operation
 * is confined to, the filter that confines it, and the point ids that keep writes in it.
 */

export type VectorType = 'knowledge' | 'memory' | 'agent_context';
export const VECTOR_TYPES: readonly VectorType[] = ['knowledge', 'memory', 'agent_context'];
export type VectorFilter = Schemas['Filter'];
type Condition = Schemas['Condition'];

declare const vectorScopeBrand: unique symbol;

/** Project id and the project's (immutable) language: what every vector operation is confined to. */
export interface VectorScope {
  readonly projectId: string;
  readonly language: string;
  readonly [vectorScopeBrand]: true;
}

/** The only way to a VectorScope is a ProjectScope, which only the project-access guard grants. */
export function vectorScopeOf(scope: ProjectScope): VectorScope {
  return Object.freeze({ projectId: scope.projectId, language: scope.language }) as VectorScope;
}

export interface VectorInput {
  readonly vector: readonly number[];
  readonly type: VectorType;
  readonly documentType?: DocumentType | null;
  readonly contentHash: string;
}

export interface VectorPayload {
  readonly project_id: string;
  readonly language: string;
  readonly type: VectorType;
  readonly document_type: DocumentType | null;
  readonly content_hash: string;
  readonly created_at: string;
}

/**
 * The whole filter sent with every search, count and delete: `must` starts with the scope's
 * project_id and language; anything the caller adds is nested inside that `must` as one more
 * condition (a Filter is a Condition in Qdrant), so no `should`/`must_not` of theirs can widen it.
 */
export function scopedFilter(scope: VectorScope, extra: readonly Condition[] = [], caller?: VectorFilter): VectorFilter {
  const must: Condition[] = [
    { key: 'project_id', match: { value: scope.projectId } },
    { key: 'language', match: { value: scope.language } },
    ...extra,
  ];
  if (caller !== undefined && Object.keys(caller).length > 0) must.push(caller);
  return { must };
}

/**
 * Point ids are derived, never chosen by callers: a UUID (version 8, SHA-256 name-based, RFC
 * 9562 §5.8) of project, language, type, document type and content hash. Re-upserting the same
 * content is idempotent, and no project can produce — and so overwrite — another project's id.
 */
export function pointIdOf(scope: VectorScope, input: VectorInput): string {
  const name = ['jeex-vector-v1', scope.projectId, scope.language, input.type, input.documentType ?? '', input.contentHash].join('\u0000');
  const bytes = createHash('sha256').update(name).digest().subarray(0, 16);
  bytes.writeUInt8((bytes.readUInt8(6) & 0x0f) | 0x80, 6);
  bytes.writeUInt8((bytes.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

import { Type } from 'typebox';

/** Pieces shared by several route folders' schemas. */

export const Uuid = Type.String({ format: 'uuid', description: 'UUID' });
export const Timestamp = Type.String({ format: 'date-time' });

export const ProjectParams = Type.Object({ project_id: Uuid });

export const PaginationQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
};

export const Role = Type.Union([Type.Literal('owner'), Type.Literal('editor'), Type.Literal('viewer')]);

/** `If-None-Match` on a read (docs/contract.md §12). */
export const ConditionalReadHeaders = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'An `ETag` from an earlier read: 304 while it is current' })),
});

const IdempotencyKey = Type.Optional(
  Type.String({
    description:
      '1–255 visible ASCII characters. The first response (2xx) is kept 24 h for this caller and key and replayed with ' +
      '`Idempotent-Replayed: true`; 409 while the first request runs, 422 for another body or path, 400 for a bad key.',
  }),
);
const IfMatch = Type.Optional(Type.String({ description: 'The `ETag` this write starts from: 412 if it is no longer current' }));

/** `Idempotency-Key` on a POST (docs/contract.md §12). */
export const IdempotentWriteHeaders = Type.Object({ 'idempotency-key': IdempotencyKey });

/** `If-Match` on a write (docs/contract.md §12). */
export const ConditionalWriteHeaders = Type.Object({ 'if-match': IfMatch });

/** Both: a POST that is idempotent and conditional (a new document version). */
export const ConditionalIdempotentWriteHeaders = Type.Object({ 'idempotency-key': IdempotencyKey, 'if-match': IfMatch });

/** A 304: no body; the `ETag` and the §3 headers only. */
export const NotModified = Type.Null({ description: 'Not modified: the `If-None-Match` ETag is current' });

const errorRef = (description: string) => ({ $ref: 'ErrorResponse#', description });

/** The error responses a route can produce, for its OpenAPI entry (all use ErrorResponse). */
export const errors = {
  400: errorRef('Malformed JSON or wrong content type'),
  401: errorRef('Missing, malformed, expired or wrongly signed token'),
  403: errorRef('Not a member of the project, or role too low'),
  404: errorRef('Not found'),
  409: errorRef('Conflict'),
  412: errorRef('If-Match no longer matches: nothing was written'),
  410: errorRef('Gone: expired for good'),
  413: errorRef('Body too large'),
  422: errorRef('Validation failed'),
  429: errorRef('Rate limited'),
  503: errorRef('A dependency is unavailable'),
} as const;

export function errorResponses<K extends keyof typeof errors>(...codes: K[]): Pick<typeof errors, K> {
  const out = {} as Pick<typeof errors, K>;
  for (const code of codes) out[code] = errors[code];
  return out;
}

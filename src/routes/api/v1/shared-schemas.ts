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

const errorRef = (description: string) => ({ $ref: 'ErrorResponse#', description });

/** The error responses a route can produce, for its OpenAPI entry (all use ErrorResponse). */
export const errors = {
  400: errorRef('Malformed JSON or wrong content type'),
  401: errorRef('Missing, malformed, expired or wrongly signed token'),
  403: errorRef('Not a member of the project, or role too low'),
  404: errorRef('Not found'),
  409: errorRef('Conflict'),
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

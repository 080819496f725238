import { type Static, Type } from 'typebox';
import type { ErrorCode } from '../../lib/errors.js';

/** The contract's error body (docs/contract.md §4), used by the handler and in every route's OpenAPI responses. */
export const ErrorResponse = Type.Object(
  {
    error: Type.String({ description: 'Stable machine-readable code, e.g. not_found' }),
    message: Type.String(),
    status_code: Type.Integer(),
    correlation_id: Type.String(),
    timestamp: Type.String({ format: 'date-time' }),
    details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  },
  { $id: 'ErrorResponse', title: 'ErrorResponse' },
);
export type ErrorResponse = Static<typeof ErrorResponse>;

export function errorBody(
  code: ErrorCode,
  statusCode: number,
  message: string,
  correlationId: string,
  details: Record<string, unknown> | null,
): ErrorResponse {
  return {
    error: code,
    message,
    status_code: statusCode,
    correlation_id: correlationId,
    timestamp: new Date().toISOString(),
    details,
  };
}

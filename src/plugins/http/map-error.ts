import { isUnavailableCode } from '../../db/unavailable.js';
import {
  AppError,
  BadRequestError,
  ConflictError,
  HeadersTooLargeError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  RequestTimeoutError,
  ServiceUnavailableError,
  UriTooLongError,
  ValidationError,
  type ValidationIssue,
} from '../../lib/errors.js';

interface AjvIssue {
  readonly instancePath?: string;
  readonly message?: string;
  readonly keyword?: string;
  readonly params?: Record<string, unknown>;
}

interface FrameworkError extends Error {
  code?: string;
  statusCode?: number;
  validation?: readonly AjvIssue[];
  validationContext?: string;
}

function issuePath(context: string | undefined, issue: AjvIssue): string {
  const segments = (issue.instancePath ?? '').split('/').filter((s) => s.length > 0);
  const extra = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  if (typeof extra === 'string') segments.push(extra);
  return [context ?? 'body', ...segments].join('/');
}

function issueMessage(issue: AjvIssue): string {
  if (issue.keyword === 'additionalProperties') return 'unknown property';
  return issue.message ?? 'is invalid';
}

/**
 * Turns anything thrown anywhere into one AppError (REQ-009). Unknown errors become
 * `internal_error` with a fixed message: the original is logged by the handler, never sent.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const e = (error ?? {}) as FrameworkError;

  if (Array.isArray(e.validation)) {
    const issues: ValidationIssue[] = e.validation.map((issue) => ({
      path: issuePath(e.validationContext, issue),
      message: issueMessage(issue),
    }));
    return new ValidationError('Request validation failed', issues);
  }

  const code = typeof e.code === 'string' ? e.code : '';
  if (isUnavailableCode(code)) return new ServiceUnavailableError('postgres', 'The database is unavailable');
  if (code === '23505') return new ConflictError('The resource already exists or was changed concurrently');
  if (code === '23503') return new ConflictError('A referenced resource does not exist');
  if (code === '40001' || code === '40P01') return new ConflictError('Concurrent update, please retry');
  // Input PostgreSQL refused. Validation stops these at the edge (plugins/http/validation.ts); if one
  // gets through, it is still the caller's input, a 422 and never a 500 (docs/contract.md §13).
  if (code === '22021' || code === '22P05' || code === '22P02') {
    return new ValidationError('Request validation failed', [{ path: 'request', message: 'contains a value the database cannot store' }]);
  }

  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError('Request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new BadRequestError('Unsupported content type: send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BadRequestError('Body cannot be empty when content-type is application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new BadRequestError('Body is not valid JSON');
    // The router's own errors (frameworkErrors in plugins/http/error-handler.ts). Fixed
    // messages: the raw path may carry anything, and is never echoed.
    case 'FST_ERR_BAD_URL':
      return new BadRequestError('The URL is not valid: bad percent-encoding');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new UriTooLongError('A path parameter is longer than 100 characters');
    // Node's HTTP parser (clientErrorHandler in plugins/http/error-handler.ts).
    case 'HPE_HEADER_OVERFLOW':
      return new HeadersTooLargeError('The request line and headers are larger than 16 KiB');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RequestTimeoutError('The request was not received in time');
    default:
      break;
  }

  if (code.startsWith('HPE_')) return new BadRequestError('Malformed HTTP request');
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 404) return new NotFoundError('Not found');
  if (status === 413) return new PayloadTooLargeError('Request body is too large');
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (malformed JSON, bad content length, ...): their messages are safe.
    return new BadRequestError(e instanceof SyntaxError ? 'Body is not valid JSON' : (e.message ?? 'Bad request'));
  }
  return new InternalError();
}

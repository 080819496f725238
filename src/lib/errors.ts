/**
 * The one error hierarchy (REQ-009, docs/contract.md §4). Every error the API sends is an AppError
 * subclass by the time it reaches the client: the error handler maps anything else
 * (Fastify's, Ajv's, the driver's) onto one of these.
 */

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'request_timeout'
  | 'conflict'
  | 'precondition_failed'
  | 'gone'
  | 'payload_too_large'
  | 'uri_too_long'
  | 'validation_error'
  | 'headers_too_large'
  | 'rate_limited'
  | 'service_unavailable'
  | 'internal_error';

export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

export type ErrorDetails = Record<string, unknown> | null;

export abstract class AppError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly statusCode: number;
  readonly details: ErrorDetails;
  /** Extra response headers that belong to this error (WWW-Authenticate, Retry-After). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(message: string, details: ErrorDetails = null, headers: Record<string, string> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.details = details;
    this.headers = headers;
  }
}

export class BadRequestError extends AppError {
  readonly code = 'bad_request';
  readonly statusCode = 400;
}

export class UnauthorizedError extends AppError {
  readonly code = 'unauthorized';
  readonly statusCode = 401;
  constructor(message = 'Authentication required') {
    super(message, null, { 'www-authenticate': 'Bearer' });
  }
}

export class ForbiddenError extends AppError {
  readonly code = 'forbidden';
  readonly statusCode = 403;
}

export class NotFoundError extends AppError {
  readonly code = 'not_found';
  readonly statusCode = 404;
}

/** The client did not send its request in time (Node's request timeout). */
export class RequestTimeoutError extends AppError {
  readonly code = 'request_timeout';
  readonly statusCode = 408;
}

export class ConflictError extends AppError {
  readonly code = 'conflict';
  readonly statusCode = 409;
}

/** An `If-Match` that no longer matches (docs/contract.md §12): nothing was written. */
export class PreconditionFailedError extends AppError {
  readonly code = 'precondition_failed';
  readonly statusCode = 412;
}

/** A resource that existed and is gone for good: an export past its TTL (docs/contract.md §11). */
export class GoneError extends AppError {
  readonly code = 'gone';
  readonly statusCode = 410;
}

export class PayloadTooLargeError extends AppError {
  readonly code = 'payload_too_large';
  readonly statusCode = 413;
}

/** A path parameter longer than the router takes (100 characters): Fastify's 414, in our body. */
export class UriTooLongError extends AppError {
  readonly code = 'uri_too_long';
  readonly statusCode = 414;
}

/** Request line and headers over Node's limit (16 KiB): its 431, in our body. */
export class HeadersTooLargeError extends AppError {
  readonly code = 'headers_too_large';
  readonly statusCode = 431;
}

export class ValidationError extends AppError {
  readonly code = 'validation_error';
  readonly statusCode = 422;
  constructor(message: string, errors: readonly ValidationIssue[]) {
    super(message, { errors });
  }
}

export class RateLimitedError extends AppError {
  readonly code = 'rate_limited';
  readonly statusCode = 429;
  constructor(message: string, retryAfterSeconds: number, details: ErrorDetails = null) {
    super(message, details, { 'retry-after': String(retryAfterSeconds) });
  }
}

export class ServiceUnavailableError extends AppError {
  readonly code = 'service_unavailable';
  readonly statusCode = 503;
  readonly service: string;
  constructor(service: string, message = `${service} is unavailable`, options?: ErrorOptions) {
    super(message, { service }, {}, options);
    this.service = service;
  }
}

export class InternalError extends AppError {
  readonly code = 'internal_error';
  readonly statusCode = 500;
  constructor(message = 'Internal server error') {
    super(message);
  }
}

import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyError, FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { NotFoundError, ServiceUnavailableError } from '../../lib/errors.js';
import { currentContext, requestContext } from '../../lib/request-context.js';
import { contextFor, correlationIdFor } from './correlation-id.js';
import { errorBody } from './error-body.js';
import { toAppError } from './map-error.js';
import { API_HEADERS } from './security-headers.js';

function send(request: FastifyRequest, reply: FastifyReply, thrown: unknown): FastifyReply {
  // Errors raised before the chain's first steps ran (the router's own, a request refused
  // during shutdown) have neither the request's log context nor its §3 headers yet.
  if (currentContext() === undefined) {
    return requestContext.run(contextFor(request.id, request.headers.traceparent), () => send(request, reply, thrown));
  }
  if (!reply.hasHeader('x-correlation-id')) reply.header('x-correlation-id', request.id);
  if (!reply.hasHeader('content-security-policy')) reply.headers(API_HEADERS);

  const error = toAppError(thrown);
  if (error.statusCode >= 500 && !(error instanceof ServiceUnavailableError && error.service === SHUTTING_DOWN)) {
    // The stack and the original error go to the log and the trace only (REQ-009, scenario 7).
    request.log.error({ err: thrown, error_code: error.code }, 'request failed');
    const span = trace.getActiveSpan();
    span?.recordException(thrown instanceof Error ? thrown : new Error(String(thrown)));
    span?.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
  } else {
    request.log.info({ error_code: error.code, status_code: error.statusCode, reason: error.message }, 'request rejected');
    // A client error is not a server failure (OTel HTTP semantic conventions). @fastify/otel
    // has already marked the span ERROR, and a status cannot go back to UNSET: OK is final.
    trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.OK });
  }
  return reply
    .code(error.statusCode)
    .headers(error.headers)
    .type('application/json; charset=utf-8')
    .send(errorBody(error.code, error.statusCode, error.message, request.id, error.details));
}

/** The answer to an unknown route; also what a route that must look absent throws (dev-login). */
export function routeNotFound(request: FastifyRequest): NotFoundError {
  return new NotFoundError(`Route ${request.method} ${request.url.split('?')[0]} not found`);
}

/** `details.service` of the 503 a request gets while this instance shuts down. */
export const SHUTTING_DOWN = 'api';

/**
 * Errors Node's HTTP parser raises before there is a request (malformed request line, unknown
 * method, headers over 16 KiB, a request that never finished arriving): Fastify would write
 * its own body without our headers. Written here on the socket as a whole HTTP response —
 * the §4 body, `X-Correlation-ID` (the caller's, if its header could be read), the §3
 * headers — unless a response has already started on this connection, as Node itself does.
 */
function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const appError = toAppError(error);
  const correlationId = correlationIdFromRaw(error.rawPacket) ?? randomUUID();
  requestContext.run({ correlation_id: correlationId }, () =>
    this.log.info(
      { error_code: appError.code, status_code: appError.statusCode, reason: error.code ?? error.message },
      'malformed request rejected',
    ),
  );
  const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !started) {
    const body = JSON.stringify(errorBody(appError.code, appError.statusCode, appError.message, correlationId, appError.details));
    const headers: Record<string, string | number> = {
      date: new Date().toUTCString(),
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-correlation-id': correlationId,
      ...API_HEADERS,
      connection: 'close',
    };
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.end(`HTTP/1.1 ${appError.statusCode} ${statusText(appError.statusCode)}\r\n${head}\r\n${body}`);
  } else {
    socket.destroy();
  }
}

function statusText(status: number): string {
  return { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status] ?? 'Error';
}

/** The caller's X-Correlation-ID from the bytes Node could not parse, when it is a valid one. */
function correlationIdFromRaw(raw: unknown): string | undefined {
  if (!Buffer.isBuffer(raw)) return undefined;
  const match = /\r\nx-correlation-id:[ \t]*([^\r\n]*)/i.exec(raw.toString('latin1'));
  if (!match) return undefined;
  const id = correlationIdFor({ headers: { 'x-correlation-id': match[1]?.trim() } } as never);
  return id === match[1]?.trim() ? id : undefined;
}

/**
 * Fastify constructor options (they cannot be set from a plugin): the router's errors (bad
 * percent-encoding, a path parameter over 100 characters) and Node's parser errors go
 * through the one error body; during shutdown Fastify's own 503 is replaced by ours (the
 * `refuseWhenClosing` step of the chain, graceful-close.ts). docs/contract.md §13, docs/adr/0015.
 */
export const frameworkErrorOptions = {
  frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    send(request, reply, error);
  },
  clientErrorHandler,
  return503OnClosing: false,
} satisfies Pick<FastifyServerOptions, 'return503OnClosing' | 'clientErrorHandler'> & {
  frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void;
};

/** Last in the chain (REQ-003): one handler for every error and for unknown routes. */
const errorHandler: FastifyPluginCallback = (app, _opts, done) => {
  app.setErrorHandler((error, request, reply) => send(request, reply, error));
  app.setNotFoundHandler((request, reply) => send(request, reply, routeNotFound(request)));
  done();
};

export default fp(errorHandler, { name: 'error-handler', fastify: '5.x' });

import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { NotFoundError } from '../../lib/errors.js';
import { errorBody } from './error-body.js';
import { toAppError } from './map-error.js';

function send(request: FastifyRequest, reply: FastifyReply, thrown: unknown): FastifyReply {
  const error = toAppError(thrown);
  if (error.statusCode >= 500) {
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

/** Last in the chain (REQ-003): one handler for every error and for unknown routes. */
const errorHandler: FastifyPluginCallback = (app, _opts, done) => {
  app.setErrorHandler((error, request, reply) => send(request, reply, error));
  app.setNotFoundHandler((request, reply) => send(request, reply, routeNotFound(request)));
  done();
};

export default fp(errorHandler, { name: 'error-handler', fastify: '5.x' });

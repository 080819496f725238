import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { onRequestHookHandler } from 'fastify';
import { newRequestContext, type RequestContext, requestContext } from '../../lib/request-context.js';
import { propagateCorrelationId } from './outgoing-correlation.js';

/** docs/contract.md §3: the caller's value when it is 1–128 characters of [A-Za-z0-9._:-]. */
const VALID_CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Used as Fastify's `genReqId`, so `request.id` *is* the correlation id: one value for the
 * response header, the error body and every log line. Junk values (too long, odd
 * characters, repeated headers) are replaced, never echoed, so a caller cannot inject
 * text into our logs or responses.
 */
export function correlationIdFor(req: IncomingMessage): string {
  const given = req.headers['x-correlation-id'];
  return typeof given === 'string' && VALID_CORRELATION_ID.test(given) ? given : randomUUID();
}

/**
 * The request's log context. With tracing on, a span is already active here (the HTTP
 * instrumentation starts it before Fastify sees the request) and the logger reads its ids;
 * without, the ids are made once here, so every line of the request carries the same ones.
 */
export function contextFor(correlationId: string, traceparent: string | string[] | undefined): RequestContext {
  const span = trace.getActiveSpan()?.spanContext();
  return newRequestContext(correlationId, traceparent, !(span && isSpanContextValid(span)));
}

/**
 * First step of the chain (REQ-003, onRequest). Everything after it runs inside the request's
 * AsyncLocalStorage context, so log lines from any depth carry the correlation id; outgoing
 * HTTP calls carry it too (outgoing-correlation.ts).
 */
export function correlationId(): onRequestHookHandler {
  propagateCorrelationId();
  return function correlationId(request, reply, next) {
    reply.header('x-correlation-id', request.id);
    requestContext.run(contextFor(request.id, request.headers.traceparent), next);
  };
}

import { type Span, SpanStatusCode } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { CloseReason } from './sse-connection.js';

/**
 * The request's SERVER span from @fastify/otel, when the telemetry preload installed it.
 * @fastify/otel ends that span in its onSend/onResponse hooks, which a hijacked reply never
 * runs: a stream's span would stay open for ever and never be exported (issue 14 item 4). The
 * stream ends it itself (docs/adr/0019).
 */
export function requestSpanOf(request: FastifyRequest): Span | undefined {
  const otel = (request as { opentelemetry?: FastifyRequest['opentelemetry'] }).opentelemetry;
  if (typeof otel !== 'function') return undefined;
  const context = otel.call(request);
  return context.instrumented ? (context.span ?? undefined) : undefined;
}

/**
 * Ends a stream's span when the stream ends: status 200 once the stream had opened (none when
 * the client left before it did), and why it ended. A stream cut short by an unreadable
 * history is the one ending that marks the span as failed.
 */
export function endStreamSpan(span: Span | undefined, reason: CloseReason, opened: boolean): void {
  if (!span) return;
  if (opened) span.setAttribute('http.response.status_code', 200);
  span.setAttribute('jeex.stream.close_reason', reason);
  if (reason === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: 'event stream failed' });
  span.end();
}

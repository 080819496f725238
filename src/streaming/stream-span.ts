import { type Span, SpanStatusCode } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { CloseReason } from './sse-connection.js';

/**
 * The request's SERVER span from @fastify/otel, when the telemetry preload installed it.
 *
 * @fastify/otel ends that span in its onResponse hook, which Fastify runs for a hijacked reply
 * only when the response finishes (`res.end()` flushed). A stream whose client leaves first
 * never finishes: its span stayed open for ever and was never exported (issue 14 item 4). So
 * the stream ends its span itself when the response closes, unless @fastify/otel already has
 * — ending it twice would make the SDK warn once per stream (docs/adr/0019).
 */
export function requestSpanOf(request: FastifyRequest): Span | undefined {
  const otel = (request as { opentelemetry?: FastifyRequest['opentelemetry'] }).opentelemetry;
  if (typeof otel !== 'function') return undefined;
  const context = otel.call(request);
  return context.instrumented ? (context.span ?? undefined) : undefined;
}

/** Records why the stream ended; a stream cut short by an unreadable history marks its span as failed. */
export function markStreamEnd(span: Span | undefined, reason: CloseReason): void {
  if (!span?.isRecording()) return;
  span.setAttribute('jeex.stream.close_reason', reason);
  if (reason === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: 'event stream failed' });
}

/** Ends the span now if nobody else will: status 200 once the stream had opened, none if the client left before. */
export function endStreamSpan(span: Span | undefined, opened: boolean): void {
  if (!span?.isRecording()) return;
  if (opened) span.setAttribute('http.response.status_code', 200);
  span.end();
}

/**
 * Ends the span when the response closes, if @fastify/otel has not: `finish` (which runs its
 * onResponse hook) comes before `close`, and the turn after `close` lets that hook chain run.
 */
export function endStreamSpanOnClose(span: Span | undefined, response: { once(event: 'close', listener: () => void): unknown }): void {
  if (!span) return;
  response.once('close', () => setImmediate(() => endStreamSpan(span, true)));
}

import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EventStream, type EventStreamSpec, type StreamEvent } from './event-stream.js';
import { retryFrame } from './sse-format.js';
import type { SseHub } from './sse-hub.js';

/** How long a browser waits before reconnecting after the stream drops. */
export const RETRY_MS = 2_000;

export interface ServeStreamOptions<E extends StreamEvent> extends EventStreamSpec<E> {
  readonly hub: SseHub;
  /** Fields for the "event stream closed" log line (ids only: never tokens or payloads). */
  readonly logFields: Readonly<Record<string, string>>;
}

/**
 * Serves one event stream on a Fastify reply: the piece every stream kind shares (an
 * operation's, a project's). Subscribes and reads the history bounds while the reply can
 * still be an ordinary error; then hijacks it, writes the headers the request chain set,
 * lets go of the request's heavy fields and hands the socket to `EventStream`.
 */
export async function serveEventStream<E extends StreamEvent>(
  request: FastifyRequest,
  reply: FastifyReply,
  options: ServeStreamOptions<E>,
): Promise<void> {
  const stream = new EventStream(options);
  await stream.prepare();

  reply.hijack();
  // Hijacked: Fastify no longer sends the headers the chain set (security, CORS, correlation id).
  reply.raw.writeHead(200, {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  // A stream lives for minutes and there may be thousands: keep only what the close log
  // needs, not the request with its user and project rows (bench `sse-fanout`).
  const log = request.log;
  const correlationId = request.id;
  const { logFields } = options;
  request.user = null;
  request.projectRow = null;
  const opened = performance.now();
  const connection = options.hub.connect(reply.raw, (reason) => {
    stream.release();
    log.info(
      {
        correlation_id: correlationId,
        ...logFields,
        reason,
        last_event_id: stream.lastEventId,
        duration_ms: Math.round(performance.now() - opened),
      },
      'event stream closed',
    );
  });
  connection.write(retryFrame(RETRY_MS));
  try {
    await stream.run(connection);
  } catch (error) {
    // The history became unreadable mid-stream (database gone): the status line is sent, so
    // end the stream; the client reconnects with its Last-Event-ID and misses nothing.
    log.warn({ correlation_id: correlationId, ...logFields, reason: (error as Error).message }, 'event stream failed');
    connection.close('failed');
  }
}

import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EventStream, type EventStreamSpec, type StreamEvent } from './event-stream.js';
import type { CloseReason, SseChunk, SseSink } from './sse-connection.js';
import { noticeFrame, retryFrame } from './sse-format.js';
import type { SseHub } from './sse-hub.js';
import { type AccessWatch, type StreamAccess, streamCallerOf } from './stream-access.js';
import { StreamLifetime } from './stream-lifetime.js';
import { endStreamSpan, endStreamSpanOnClose, markStreamEnd, requestSpanOf } from './stream-span.js';

export interface ServeStreamOptions<E extends StreamEvent> extends EventStreamSpec<E> {
  readonly hub: SseHub;
  /** Ends the stream when the caller's access ends (contract §9, docs/adr/0019). */
  readonly access: StreamAccess;
  /** Fields for the "event stream closed" log line (ids only: never tokens or payloads). */
  readonly logFields: Readonly<Record<string, string>>;
}

/**
 * Serves one event stream on a Fastify reply: the piece every stream kind shares (an
 * operation's, a project's). Subscribes, reads the history bounds and starts watching the
 * caller's access while the reply can still be an ordinary error; then hijacks it, writes the
 * headers the request chain set, lets go of the request's heavy fields and hands the socket
 * to `EventStream`. Everything it takes is bound to the stream's lifetime, which starts here
 * and not when the stream opens: a client that leaves during any await leaves nothing behind.
 */
export async function serveEventStream<E extends StreamEvent>(
  request: FastifyRequest,
  reply: FastifyReply,
  options: ServeStreamOptions<E>,
): Promise<void> {
  const lifetime = new StreamLifetime(reply.raw);
  // Reconnect storms: the cap and the jittered retry hint (stream-admission.ts, docs/adr/0028).
  const admission = request.server.streamAdmission;
  admission.admit(lifetime);
  const span = requestSpanOf(request);
  // A stream lives for minutes and there may be thousands: keep only what the close log
  // needs, not the request with its user and project rows (bench `sse-fanout`).
  const log = request.log;
  const correlationId = request.id;
  const { logFields } = options;
  const started = performance.now();
  const closed = (reason: CloseReason, lastEventId: number, opened: boolean) => {
    lifetime.end();
    markStreamEnd(span, reason);
    if (!opened) endStreamSpan(span, false);
    log.info(
      {
        correlation_id: correlationId,
        ...logFields,
        reason,
        opened,
        last_event_id: lastEventId,
        duration_ms: Math.round(performance.now() - started),
      },
      'event stream closed',
    );
  };

  const stream = new EventStream({ ...options, live: lifetime.bind(options.live) });
  let watch: AccessWatch;
  try {
    [, watch] = await Promise.all([stream.prepare(), options.access.watch(streamCallerOf(request), lifetime)]);
  } catch (error) {
    lifetime.end();
    throw error;
  }

  reply.hijack();
  if (lifetime.ended) {
    // The client left before the stream opened: its subscriptions are already released.
    closed('client_gone', stream.lastEventId, false);
    return;
  }
  const res = reply.raw;
  const socket = res.socket;
  if (!socket) {
    closed('client_gone', stream.lastEventId, false);
    return;
  }
  // Hijacked: Fastify no longer sends the headers the chain set (security, CORS, correlation id).
  // The body is close-delimited, not chunked (RFC 9112 §6.3; docs/adr/0025): frames go to the
  // socket as they are, and the connection ends with the stream, as an event stream's does.
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    connection: 'close',
  });
  res.flushHeaders();
  request.user = null;
  request.projectRow = null;
  endStreamSpanOnClose(span, res);
  const connection = options.hub.connect(new ResponseSocketSink(res, socket), (reason) => {
    stream.release();
    closed(reason, stream.lastEventId, true);
  });
  connection.write(retryFrame(admission.retryMs()));
  watch.start((ending) => {
    if (ending.notice) connection.write(noticeFrame(ending.notice.event, ending.notice.data));
    connection.close(ending.reason);
  });
  if (connection.isClosed) return;
  try {
    await stream.run(connection);
  } catch (error) {
    // The history became unreadable mid-stream (database gone): the status line is sent, so
    // end the stream; the client reconnects with its Last-Event-ID and misses nothing.
    log.warn({ correlation_id: correlationId, ...logFields, reason: (error as Error).message }, 'event stream failed');
    connection.close('failed');
  }
}

/**
 * The socket of a hijacked, close-delimited response: frames are written to the socket itself
 * (one write each, no chunk framing, none of `ServerResponse.write`'s per-call work), while the
 * end still goes through the response, so it finishes as any other (its `finish` hooks, the
 * request log, the span) and Node closes the connection after the bytes already queued.
 */
class ResponseSocketSink implements SseSink {
  constructor(
    private readonly res: ServerResponse,
    private readonly socket: Socket,
  ) {}

  write(chunk: SseChunk): boolean {
    return this.socket.write(chunk);
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  on(event: 'close', listener: () => void): void {
    this.socket.on(event, listener);
  }

  once(event: 'drain', listener: () => void): void {
    this.socket.once(event, listener);
  }

  off(event: 'drain', listener: () => void): void {
    this.socket.off(event, listener);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  get writableNeedDrain(): boolean {
    return this.socket.writableNeedDrain;
  }
}

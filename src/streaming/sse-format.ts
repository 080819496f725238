import type { OperationEvent, ReplayedEvent } from './events.js';

/*
 * Server-Sent Events framing (WHATWG HTML §9.2). Every field value here is JSON or a number,
 * which never contains a newline, so each frame is exactly one `data:` line.
 */

/**
 * The frame of an operation event; its `data:` line is the event as JSON, fields in the order
 * of `OperationEvent`. An event read back from the history brings its `data` as the JSON text
 * stored (`dataJson`), used as is: a replay neither parses nor re-serialises up to 64 KiB per
 * event (docs/adr/0016).
 */
export function eventFrame(event: OperationEvent | ReplayedEvent): string {
  const data = 'dataJson' in event ? event.dataJson : JSON.stringify(event.data ?? null);
  return (
    `id: ${event.id}\nevent: ${event.type}\ndata: {"id":${event.id},"operation_id":${JSON.stringify(event.operation_id)},` +
    `"type":${JSON.stringify(event.type)},"data":${data},"status":${JSON.stringify(event.status)},"created_at":"${event.created_at}"}\n\n`
  );
}

/**
 * A frame function that makes each event's frame once, as bytes, for every stream the event
 * reaches: the bus hands one event object to all its listeners, so the N streams of a
 * channel share one serialisation and one encoding instead of making N (docs/adr/0025).
 */
export function sharedFrames<E extends object>(frame: (event: E) => string): (event: E) => Buffer {
  const frames = new WeakMap<E, Buffer>();
  return (event) => {
    let bytes = frames.get(event);
    if (bytes === undefined) {
      bytes = Buffer.from(frame(event));
      frames.set(event, bytes);
    }
    return bytes;
  };
}

/** What operation streams send (src/routes/api/v1/operations). */
export const sharedEventFrames = sharedFrames(eventFrame);

/** A stream-level notice without an id, so the client's Last-Event-ID is left as it was. */
export function noticeFrame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function retryFrame(milliseconds: number): string {
  return `retry: ${milliseconds}\n\n`;
}

export const KEEPALIVE_FRAME = ': keepalive\n\n';

/** Event types become the SSE `event:` field: one token, no spaces or line breaks. */
export const EVENT_TYPE_PATTERN = '^[A-Za-z0-9._:-]{1,64}$';

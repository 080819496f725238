import type { OperationEvent } from './events.js';

/*
 * Server-Sent Events framing (WHATWG HTML §9.2). Every field value here is JSON or a number,
 * which never contains a newline, so each frame is exactly one `data:` line.
 */

export function eventFrame(event: OperationEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

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

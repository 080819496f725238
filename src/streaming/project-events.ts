import type { StreamEvent } from './event-stream.js';
import { sharedFrames } from './sse-format.js';

/**
 * One event of a project's stream (docs/contract.md §9): `id` is the project's own gap-free
 * sequence; `dataJson` the event's data as stored (JSON text), sent as is.
 */
export interface ProjectEvent extends StreamEvent {
  readonly type: string;
  readonly dataJson: string;
}

/** `data:` is the event's own data, so an operation's event has `operation_id` at its top level. */
export function projectEventFrame(event: ProjectEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${event.dataJson}\n\n`;
}

/** What project streams send: one frame per event for all the streams of its project (docs/adr/0025). */
export const sharedProjectEventFrames = sharedFrames(projectEventFrame);

import type { operations } from './generated/api.js';
import { EventStreamError, followResumable, type StreamConnectionOptions } from './resumable-stream.js';

/*
 * Follows an operation's Server-Sent Events, resumed with `Last-Event-ID` by the loop it shares
 * with the project stream (./resumable-stream.ts): the consumer sees every event once, in order,
 * or an explicit `reset` when the server no longer has them (docs/contract.md §5). It ends after
 * the event that carries a terminal status.
 */

export type OperationEvent = NonNullable<operations['publishOperationEvent']['responses'][202]['content']['application/json']>;
type OperationStatus = NonNullable<OperationEvent['status']>;

export type StreamMessage =
  | { readonly kind: 'event'; readonly event: OperationEvent }
  /** Events after the requested id were already dropped by the server: progress was lost, visibly. */
  | { readonly kind: 'reset'; readonly oldestId: number };

export interface FollowOperationOptions extends StreamConnectionOptions {
  readonly projectId: string;
  readonly operationId: string;
  /** Resume after this event id (the last one a previous session saw); default: from the start. */
  readonly lastEventId?: number;
}

/** The server refused the stream (401, 403, 404, 422: retrying cannot help), or kept failing. */
export { EventStreamError as OperationStreamError };

const TERMINAL: ReadonlySet<OperationStatus> = new Set<OperationStatus>(['completed', 'failed', 'cancelled']);

export function followOperationEvents(options: FollowOperationOptions): AsyncGenerator<StreamMessage, void, undefined> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const path = `/projects/${encodeURIComponent(options.projectId)}/operations/${encodeURIComponent(options.operationId)}`;
  return followResumable<StreamMessage>({
    ...options,
    path: `${path}/events`,
    lastEventId: options.lastEventId ?? 0,
    interpret: (message) => {
      if (message.event === 'reset') {
        const { oldest_id } = JSON.parse(message.data) as { oldest_id: string | number };
        return { messages: [{ kind: 'reset', oldestId: Number(oldest_id) }] };
      }
      // revoked / auth_expired end the connection; the loop reconnects with a token asked for again.
      if (message.id === undefined) return { messages: [] };
      const event = JSON.parse(message.data) as OperationEvent;
      return { messages: [{ kind: 'event', event }], end: event.status !== null && TERMINAL.has(event.status) };
    },
    // A reconnection replays what is retained through the terminal event; only a connection that
    // brought nothing asks whether the operation ended with its terminal event no longer retained.
    endedMeanwhile: async (headers) => {
      try {
        const url = `${options.baseUrl.replace(/\/+$/, '')}/api/v1${path}`;
        const response = await doFetch(url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
        if (!response.ok) return false;
        const operation = (await response.json()) as { status: OperationStatus };
        return TERMINAL.has(operation.status);
      } catch {
        return false;
      }
    },
  });
}

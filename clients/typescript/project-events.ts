import { followResumable, type StreamConnectionOptions } from './resumable-stream.js';

/*
 * Follows a project's stream (docs/contract.md §9): everything in the project on one connection,
 * resumed with `Last-Event-ID` by the loop it shares with the operation stream
 * (./resumable-stream.ts). `auth_expired` reconnects with a token asked for again; `revoked` ends
 * it (access is gone: reconnecting would be refused).
 */

export type ProjectStreamMessage =
  /** `data` is the event's own data; an operation's event has `operation_id` at its top level. */
  | { readonly kind: 'event'; readonly id: number; readonly type: string; readonly data: Record<string, unknown> }
  /** Events after the requested id were already dropped by the server: state must be read again. */
  | { readonly kind: 'reset'; readonly oldestId: number }
  /** The caller's access ended (removed, or the project deleted): the stream is over. */
  | { readonly kind: 'revoked'; readonly reason: string };

export interface FollowProjectOptions extends StreamConnectionOptions {
  readonly projectId: string;
  /** Resume after this id (`last_event_id` of the project read before); 0 replays what is retained; undefined starts live. */
  readonly lastEventId?: number;
}

export function followProjectEvents(options: FollowProjectOptions): AsyncGenerator<ProjectStreamMessage, void, undefined> {
  return followResumable<ProjectStreamMessage>({
    ...options,
    path: `/projects/${encodeURIComponent(options.projectId)}/events`,
    lastEventId: options.lastEventId,
    interpret: (message) => {
      if (message.id !== undefined) {
        const data = JSON.parse(message.data) as Record<string, unknown>;
        return { messages: [{ kind: 'event', id: Number(message.id), type: message.event ?? 'message', data }] };
      }
      if (message.event === 'reset') {
        const { oldest_id } = JSON.parse(message.data) as { oldest_id: string | number };
        return { messages: [{ kind: 'reset', oldestId: Number(oldest_id) }] };
      }
      if (message.event === 'revoked') {
        const { reason } = JSON.parse(message.data) as { reason: string };
        return { messages: [{ kind: 'revoked', reason }], end: true };
      }
      return { messages: [] };
    },
  });
}

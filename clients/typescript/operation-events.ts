import { createParser } from 'eventsource-parser';
import type { operations } from './generated/api.js';
import { resolveToken, type TokenSource } from './token.js';

/*
 * Follows an operation's Server-Sent Events over fetch (headers, so no token in the URL), parsed
 * with eventsource-parser. When the connection drops (a proxy timeout, a deploy, a network change)
 * it reconnects with `Last-Event-ID`, and the server replays what was missed: the consumer sees
 * every event once, in order, or an explicit `reset` when the server no longer has them
 * (docs/contract.md §5). It ends after the event that carries a terminal status.
 */

export type OperationEvent = NonNullable<operations['publishOperationEvent']['responses'][202]['content']['application/json']>;
type OperationStatus = NonNullable<OperationEvent['status']>;

export type StreamMessage =
  | { readonly kind: 'event'; readonly event: OperationEvent }
  /** Events after the requested id were already dropped by the server: progress was lost, visibly. */
  | { readonly kind: 'reset'; readonly oldestId: number };

export interface FollowOperationOptions {
  /** Where the API is served, without `/api/v1`. */
  readonly baseUrl: string;
  readonly projectId: string;
  readonly operationId: string;
  readonly token?: TokenSource;
  /** Resume after this event id (the last one a previous session saw); default: from the start. */
  readonly lastEventId?: number;
  /** Stops following; the generator then ends quietly. Breaking out of `for await` does the same. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof globalThis.fetch;
  /** Failed connection attempts in a row before giving up with the last error (default 5). */
  readonly maxRetries?: number;
  /** Wait before reconnecting, until the server's `retry:` says otherwise (default 2000 ms). */
  readonly retryMs?: number;
}

/** The server refused the stream (401, 403, 404, 422: retrying cannot help), or kept failing. */
export class OperationStreamError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`event stream refused with ${status}`);
    this.name = 'OperationStreamError';
  }
}

const TERMINAL: ReadonlySet<OperationStatus> = new Set<OperationStatus>(['completed', 'failed', 'cancelled']);

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function retryAfterMs(response: Response): number | undefined {
  const seconds = Number(response.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

export async function* followOperationEvents(options: FollowOperationOptions): AsyncGenerator<StreamMessage, void, undefined> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const { signal } = options;
  const maxRetries = options.maxRetries ?? 5;
  const base = `${options.baseUrl.replace(/\/+$/, '')}/api/v1/projects/${encodeURIComponent(options.projectId)}/operations/${encodeURIComponent(options.operationId)}`;
  let lastId = options.lastEventId ?? 0;
  let retryMs = options.retryMs ?? 2_000;
  let failures = 0;

  const headersFor = async (extra: Record<string, string>): Promise<Record<string, string>> => {
    const token = await resolveToken(options.token);
    return { ...extra, ...(token ? { authorization: `Bearer ${token}` } : {}) };
  };

  /** Did the operation end (its terminal event perhaps no longer retained, so no stream will bring it)? */
  const endedMeanwhile = async (): Promise<boolean> => {
    try {
      const response = await doFetch(base, { headers: await headersFor({ accept: 'application/json' }), ...(signal ? { signal } : {}) });
      if (!response.ok) return false;
      const operation = (await response.json()) as { status: OperationStatus };
      return TERMINAL.has(operation.status);
    } catch {
      return false;
    }
  };

  const giveUpOr = async (error: unknown, waitMs: number): Promise<void> => {
    failures += 1;
    if (failures > maxRetries) throw error;
    await pause(waitMs, signal);
  };

  while (!signal?.aborted) {
    const connection = new AbortController();
    const stop = () => connection.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      let response: Response;
      try {
        const headers = await headersFor({ accept: 'text/event-stream', ...(lastId > 0 ? { 'last-event-id': String(lastId) } : {}) });
        response = await doFetch(`${base}/events`, { headers, signal: connection.signal });
      } catch (error) {
        if (signal?.aborted) return;
        await giveUpOr(error, retryMs);
        continue;
      }
      if (!response.ok || !response.body) {
        const body: unknown = await response.json().catch(() => null);
        const error = new OperationStreamError(response.status, body);
        if (response.status !== 429 && response.status < 500) throw error;
        await giveUpOr(error, retryAfterMs(response) ?? retryMs);
        continue;
      }

      const ready: StreamMessage[] = [];
      let finished = false;
      const parser = createParser({
        onEvent: (message) => {
          if (message.event === 'reset') {
            const { oldest_id } = JSON.parse(message.data) as { oldest_id: string | number };
            ready.push({ kind: 'reset', oldestId: Number(oldest_id) });
            return;
          }
          const event = JSON.parse(message.data) as OperationEvent;
          // A replay can overlap what was already delivered; ids are the operation's own sequence.
          if (event.id <= lastId) return;
          lastId = event.id;
          ready.push({ kind: 'event', event });
          if (event.status !== null && TERMINAL.has(event.status)) finished = true;
        },
        onRetry: (ms) => {
          retryMs = ms;
        },
      });

      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let delivered = false;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
          if (ready.length > 0) {
            delivered = true;
            failures = 0;
          }
          while (ready.length > 0) {
            const message = ready.shift();
            if (message) yield message;
          }
          if (finished) return;
        }
      } catch {
        // The connection dropped mid-stream: reconnect below.
      }
      if (signal?.aborted) return;
      // A reconnection replays what is retained through the terminal event; only a connection that
      // brought nothing asks whether the operation ended with its terminal event no longer retained.
      if (!delivered && (await endedMeanwhile())) return;
      await giveUpOr(new OperationStreamError(0, 'the stream ended before the operation did'), retryMs);
    } finally {
      // Also runs when the consumer stops early (break, return, throw): the connection is released.
      signal?.removeEventListener('abort', stop);
      connection.abort();
    }
  }
}

import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { resolveToken, type TokenSource } from './token.js';

/*
 * The resume loop both stream helpers share (an operation's stream, a project's): Server-Sent
 * Events over fetch (headers, so no token in the URL), parsed with eventsource-parser. When the
 * connection drops (a proxy timeout, a deploy, a network change, `auth_expired`) it reconnects
 * with `Last-Event-ID` and a token asked for again, and the server replays what was missed
 * (docs/contract.md §5, §9). Events whose id it has already passed are dropped, so a consumer
 * sees each event once, in order.
 */

export interface StreamConnectionOptions {
  /** Where the API is served, without `/api/v1`. */
  readonly baseUrl: string;
  readonly token?: TokenSource;
  /** Stops following; the generator then ends quietly. Breaking out of `for await` does the same. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof globalThis.fetch;
  /** Failed connection attempts in a row before giving up with the last error (default 5). */
  readonly maxRetries?: number;
  /** Wait before reconnecting, until the server's `retry:` says otherwise (default 2000 ms). */
  readonly retryMs?: number;
}

/** The server refused the stream (401, 403, 404, 422: retrying cannot help), or kept failing. */
export class EventStreamError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`event stream refused with ${status}`);
    this.name = 'EventStreamError';
  }
}

/** What the caller makes of one SSE event: messages to yield; `end` stops following after them. */
export interface Interpretation<M> {
  readonly messages: readonly M[];
  readonly end?: boolean;
}

export interface ResumableStreamSpec<M> extends StreamConnectionOptions {
  /** The stream's path under `/api/v1`. */
  readonly path: string;
  /** Resume after this id; undefined: no `Last-Event-ID` on the first connection (the server decides where to start). */
  readonly lastEventId: number | undefined;
  /** An event with an id past the last one, or a notice without an id (`reset`, `revoked`, `auth_expired`). */
  readonly interpret: (event: EventSourceMessage) => Interpretation<M>;
  /** After a connection that brought nothing: has the subject ended meanwhile (nothing more will come)? */
  readonly endedMeanwhile?: (headers: Record<string, string>) => Promise<boolean>;
}

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

export async function authHeaders(token: TokenSource | undefined, extra: Record<string, string>): Promise<Record<string, string>> {
  const value = await resolveToken(token);
  return { ...extra, ...(value ? { authorization: `Bearer ${value}` } : {}) };
}

export async function* followResumable<M>(spec: ResumableStreamSpec<M>): AsyncGenerator<M, void, undefined> {
  const doFetch = spec.fetch ?? globalThis.fetch;
  const { signal } = spec;
  const maxRetries = spec.maxRetries ?? 5;
  const url = `${spec.baseUrl.replace(/\/+$/, '')}/api/v1${spec.path}`;
  let lastId = spec.lastEventId;
  let retryMs = spec.retryMs ?? 2_000;
  let failures = 0;

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
        const headers = await authHeaders(spec.token, {
          accept: 'text/event-stream',
          ...(lastId !== undefined ? { 'last-event-id': String(lastId) } : {}),
        });
        response = await doFetch(url, { headers, signal: connection.signal });
      } catch (error) {
        if (signal?.aborted) return;
        await giveUpOr(error, retryMs);
        continue;
      }
      if (!response.ok || !response.body) {
        const body: unknown = await response.json().catch(() => null);
        const error = new EventStreamError(response.status, body);
        if (response.status !== 429 && response.status < 500) throw error;
        await giveUpOr(error, retryAfterMs(response) ?? retryMs);
        continue;
      }
      // Connected: from now on the server decides where this stream starts, even if it sent nothing yet.
      lastId ??= 0;

      const ready: M[] = [];
      let finished = false;
      const parser = createParser({
        onEvent: (message) => {
          if (message.id !== undefined) {
            const id = Number(message.id);
            // A replay can overlap what was already delivered; ids are the stream's own sequence.
            if (lastId !== undefined && id <= lastId) return;
            lastId = id;
          }
          const outcome = spec.interpret(message);
          ready.push(...outcome.messages);
          if (outcome.end) finished = true;
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
            const message = ready.shift() as M;
            yield message;
          }
          if (finished) return;
        }
      } catch {
        // The connection dropped mid-stream: reconnect below.
      }
      if (signal?.aborted) return;
      if (!delivered && spec.endedMeanwhile && (await spec.endedMeanwhile(await authHeaders(spec.token, { accept: 'application/json' })))) {
        return;
      }
      await giveUpOr(new EventStreamError(0, 'the stream ended before its subject did'), retryMs);
    } finally {
      // Also runs when the consumer stops early (break, return, throw): the connection is released.
      signal?.removeEventListener('abort', stop);
      connection.abort();
    }
  }
}

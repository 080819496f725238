import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface ReceivedEvent extends EventSourceMessage {
  readonly at: number;
}

export interface StreamClient {
  readonly status: number;
  readonly headers: Headers;
  readonly events: ReceivedEvent[];
  readonly comments: string[];
  readonly retries: number[];
  /** Resolves when the server ends the stream (or the client aborts it). */
  readonly ended: Promise<void>;
  readonly waitFor: (predicate: (events: ReceivedEvent[]) => boolean, timeoutMs?: number) => Promise<void>;
  readonly close: () => void;
}

/** A real SSE client over fetch, parsed with eventsource-parser (the same framing browsers use). */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const events: ReceivedEvent[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of waiters) w();
  };
  const parser = createParser({
    onEvent: (e) => {
      events.push({ ...e, at: performance.now() });
      notify();
    },
    onComment: (c) => {
      comments.push(c);
      notify();
    },
    onRetry: (r) => retries.push(r),
  });
  let done = false;
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      // aborted or dropped
    } finally {
      done = true;
      notify();
    }
  })();
  const waitFor = (predicate: (e: ReceivedEvent[]) => boolean, timeoutMs = 5_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (predicate(events)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        } else if (done) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`stream ended before the condition; got ${events.length} events`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out; got ${events.length} events: ${events.map((e) => e.id).join(',')}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { status: res.status, headers: res.headers, events, comments, retries, ended, waitFor, close: () => controller.abort() };
}

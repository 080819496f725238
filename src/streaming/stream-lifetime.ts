import type { LiveSource, StreamEvent } from './event-stream.js';

/** The part of the response a lifetime watches: whether its socket is gone, and when it goes. */
export interface ClientSocketState {
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/**
 * How long one stream request may hold anything: from the handler's first line, not from
 * the moment the stream opens. A client that leaves during the awaits before the stream
 * opens (authentication, the guard, the operation read, the subscription, the history
 * bounds) has already fired its `close` event by the time the stream's own listener would
 * be attached, so nothing would ever release what those awaits took (issue 14 item 6,
 * docs/adr/0019). The lifetime ends when the client's socket goes — noticed even if it went
 * before the handler ran — or when the stream ends it; everything bound to it is released
 * at that moment, whatever is still being awaited.
 */
export class StreamLifetime {
  private readonly controller = new AbortController();
  private readonly onClose = () => this.end();

  constructor(private readonly socket: ClientSocketState) {
    if (socket.destroyed) this.end();
    else socket.once('close', this.onClose);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The client left or the stream ended: nothing may be held for it any more. */
  get ended(): boolean {
    return this.controller.signal.aborted;
  }

  end(): void {
    this.socket.off('close', this.onClose);
    this.controller.abort();
  }

  /** Runs `release` when the lifetime ends (at once if it already has); returns a function that does it early. */
  hold(release: () => void): () => void {
    let held = true;
    const run = () => {
      if (!held) return;
      held = false;
      this.signal.removeEventListener('abort', run);
      release();
    };
    if (this.ended) run();
    else this.signal.addEventListener('abort', run, { once: true });
    return run;
  }

  /**
   * A live source whose subscriptions end with this lifetime, including one that is still
   * being acknowledged when the client leaves: it is released as soon as it resolves.
   */
  bind<E extends StreamEvent>(live: LiveSource<E>): LiveSource<E> {
    return {
      subscribe: async (listener) => this.hold(await live.subscribe(listener)),
    };
  }
}

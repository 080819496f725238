import { KEEPALIVE_FRAME } from './sse-format.js';

/** The part of a `ServerResponse` a stream writes to (a plain Writable in unit tests). */
export interface SseSink {
  write(chunk: string): boolean;
  end(): unknown;
  destroy(): unknown;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
}

export interface SseConnectionOptions {
  readonly keepaliveMs: number;
  readonly maxBufferBytes: number;
  readonly onClose: (reason: CloseReason) => void;
}

export type CloseReason = 'completed' | 'client_gone' | 'slow_client' | 'bus_lost' | 'shutdown' | 'failed' | 'revoked' | 'auth_expired';

/**
 * One open event stream's socket side. Owns its keepalive timer and its buffer bound
 * (PERF-002): bytes the socket has not taken yet are `writableLength`; past `maxBufferBytes`
 * the client is too slow and is cut off, so one stalled reader cannot make the server hold
 * events without bound. What to write and when is `EventStream`'s business.
 */
export class SseConnection {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly closeWaiters = new Set<() => void>();

  constructor(
    private readonly res: SseSink,
    private readonly options: SseConnectionOptions,
  ) {
    res.on('close', () => this.finish('client_gone'));
    this.arm();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The socket's buffer is past its high-water mark: a writer that can wait should. */
  get needsDrain(): boolean {
    return !this.closed && this.res.writableNeedDrain;
  }

  /**
   * Writes a frame. Returns false when the socket asks the writer to wait (its buffer is
   * past the high-water mark) or the stream is closed: a replay then awaits `drained()`.
   */
  write(chunk: string): boolean {
    if (this.closed) return false;
    const more = this.res.write(chunk);
    if (this.res.writableLength > this.options.maxBufferBytes) {
      this.close('slow_client');
      return false;
    }
    this.arm();
    return more;
  }

  /** Resolves when the socket has taken what was queued, or the stream closed. */
  drained(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.closeWaiters.delete(done);
        resolve();
      };
      this.res.once('drain', done);
      this.closeWaiters.add(done);
    });
  }

  /** Ends the stream: gracefully after the last event, or by dropping a slow client's socket. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    if (reason === 'slow_client' || reason === 'failed') this.res.destroy();
    else this.res.end();
    this.finish(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const waiter of [...this.closeWaiters]) waiter();
    this.options.onClose(reason);
  }

  /** (Re)starts the silence timer; `refresh()` reuses the timer instead of allocating one per event. */
  private arm(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.write(KEEPALIVE_FRAME), this.options.keepaliveMs);
  }
}

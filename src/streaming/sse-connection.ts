import { KEEPALIVE_FRAME } from './sse-format.js';

/** A frame as written: a string, or the bytes every stream of one event shares (docs/adr/0025). */
export type SseChunk = string | Uint8Array;

/** What a stream writes to: the socket of a hijacked response (a plain Writable in unit tests). */
export interface SseSink {
  write(chunk: SseChunk): boolean;
  end(): unknown;
  destroy(): unknown;
  cork(): void;
  uncork(): void;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
}

/**
 * What every connection of one hub shares (src/streaming/sse-hub.ts, docs/adr/0025): the
 * buffer cap, the keepalive sweep's count, the tick's write batch and the delivery count.
 */
export interface SseHost {
  readonly maxBufferBytes: number;
  /** Keepalive sweeps so far: a write notes it, so no write refreshes a timer. */
  readonly sweeps: number;
  /** Uncorks `connection` at the end of this tick, with every other stream written in it. */
  uncorkLater(connection: SseConnection): void;
  /** One event written to one client (the metric is added to once per tick). */
  delivered(): void;
}

export type CloseReason = 'completed' | 'client_gone' | 'slow_client' | 'bus_lost' | 'shutdown' | 'failed' | 'revoked' | 'auth_expired';

/**
 * One open event stream's socket side. Owns its buffer bound (PERF-002): bytes the socket has
 * not taken yet are `writableLength`; past the hub's `maxBufferBytes` the client is too slow
 * and is cut off, so one stalled reader cannot make the server hold events without bound.
 * Its first write in a tick corks the socket and the hub uncorks every such socket once, at
 * the end of the tick: the frames one socket got in that tick leave in one system call. What
 * to write and when is `EventStream`'s business; keepalives are the hub's sweep.
 */
export class SseConnection {
  private closed = false;
  private corked = false;
  /** The sweep count at the last write: the sweep sends a keepalive after enough silent ones. */
  private lastWriteSweep: number;
  private readonly closeWaiters = new Set<() => void>();

  constructor(
    private readonly res: SseSink,
    private readonly host: SseHost,
    private readonly onClose: (reason: CloseReason) => void,
  ) {
    this.lastWriteSweep = host.sweeps;
    res.on('close', () => this.finish('client_gone'));
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
  write(chunk: SseChunk): boolean {
    if (this.closed) return false;
    if (!this.corked) {
      this.corked = true;
      this.res.cork();
      this.host.uncorkLater(this);
    }
    const more = this.res.write(chunk);
    if (this.res.writableLength > this.host.maxBufferBytes) {
      this.close('slow_client');
      return false;
    }
    this.lastWriteSweep = this.host.sweeps;
    return more;
  }

  /** Writes an event's frame and counts the delivery. */
  deliver(chunk: SseChunk): boolean {
    const more = this.write(chunk);
    if (!this.closed) this.host.delivered();
    return more;
  }

  /** The hub's end of the tick: what this tick wrote goes to the socket. */
  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    if (!this.closed) this.res.uncork();
  }

  /** The hub's keepalive sweep: a comment when nothing was written for `silentSweeps` sweeps. */
  keepaliveAfter(silentSweeps: number): void {
    if (this.host.sweeps - this.lastWriteSweep >= silentSweeps) this.write(KEEPALIVE_FRAME);
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
    this.uncork();
    if (reason === 'slow_client' || reason === 'failed') this.res.destroy();
    else this.res.end();
    this.finish(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of [...this.closeWaiters]) waiter();
    this.onClose(reason);
  }
}

import type { SseChunk, SseConnection } from './sse-connection.js';
import { noticeFrame } from './sse-format.js';

/** Anything a stream carries: ids are the stream's own gap-free sequence (1, 2, 3, …). */
export interface StreamEvent {
  readonly id: number;
}

export interface HistoryBounds {
  /** The oldest retained id; null when nothing is retained. */
  readonly oldestId: number | null;
  /** The newest id ever published (0 when none). Ids never go backwards. */
  readonly newestId: number;
}

/** Where a stream reads what it missed: the durable history, in pages. */
export interface HistorySource<E extends StreamEvent> {
  bounds(): Promise<HistoryBounds>;
  /** Retained events with id > afterId, in id order: at most `limit`, possibly fewer; none at the end. */
  page(afterId: number, limit: number): Promise<readonly E[]>;
}

/** Where a stream hears new events: a channel of the bus. */
export interface LiveSource<E extends StreamEvent> {
  /** Resolves once live events flow to `listener`; returns the function that releases it. */
  subscribe(listener: (event: E) => void): Promise<() => void>;
}

export interface EventStreamSpec<E extends StreamEvent> {
  readonly history: HistorySource<E>;
  readonly live: LiveSource<E>;
  /** An event after which the stream ends (an operation's terminal status). */
  readonly isTerminal: (event: E) => boolean;
  /** The event's frame; `sharedFrames` makes it once per event for every stream it reaches (docs/adr/0025). */
  readonly frame: (event: E) => SseChunk;
  /** The client's Last-Event-ID; 0 replays everything retained. */
  readonly afterId: number;
  /** The subject had already ended when the stream was asked for: end after the replay. */
  readonly endedBefore?: boolean;
  /** Events per history read; bounds what one stream holds in the heap during a replay. */
  readonly pageSize?: number;
  /** Live events held while a replay runs; past it they are dropped and re-read from history. */
  readonly maxPending?: number;
}

const DEFAULT_PAGE_SIZE = 50;
const DEFAULT_MAX_PENDING = 1_000;
/** Catch-up passes that find nothing new before a live event past a gap is taken as is (its predecessors were trimmed). */
const MAX_IDLE_PASSES = 3;

export type ResetNotice = { readonly oldest_id: string };

/**
 * What a client asking for events after `afterId` must be told first: `reset` when events it
 * has not seen are gone (older than the oldest retained) or when its id is beyond anything
 * ever published (its state belongs to another history) — a loss made visible, never silent.
 */
export function resetFor(afterId: number, bounds: HistoryBounds): ResetNotice | null {
  if (afterId > bounds.newestId) return { oldest_id: String(bounds.oldestId ?? bounds.newestId + 1) };
  if (bounds.oldestId !== null && afterId + 1 < bounds.oldestId) return { oldest_id: String(bounds.oldestId) };
  return null;
}

/**
 * One client's stream: history first, then live, with nothing lost or repeated at the seam.
 *
 * The order is what makes it lossless (docs/adr/0007): subscribe first (`prepare`), then read
 * the history in pages, holding live events that arrive meanwhile; then hand over to live and
 * drop what the replay already sent. Every event is committed before it is published, so a
 * live event whose id skips ahead (a lost or reordered publish) is a gap the history can fill:
 * the stream goes back to the history from its last id. A replay waits for the socket to
 * drain between pages, so a full history never sits in the heap.
 */
export class EventStream<E extends StreamEvent> {
  private lastId: number;
  private liveMode = false;
  private readonly pending: E[] = [];
  private overflowed = false;
  private catchingUp = false;
  private unsubscribe: (() => void) | undefined;
  private bounds: HistoryBounds | undefined;
  private connection: SseConnection | undefined;
  private readonly pageSize: number;
  private readonly maxPending: number;

  constructor(private readonly spec: EventStreamSpec<E>) {
    this.lastId = spec.afterId;
    this.pageSize = spec.pageSize ?? DEFAULT_PAGE_SIZE;
    this.maxPending = spec.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** The id of the last event sent (or the client's own starting point). */
  get lastEventId(): number {
    return this.lastId;
  }

  /**
   * Before the response is committed: subscribe, then read the history's bounds. A failure
   * here is an ordinary error response (503), and leaves nothing subscribed.
   */
  async prepare(): Promise<void> {
    this.unsubscribe = await this.spec.live.subscribe((event) => this.onLive(event));
    try {
      this.bounds = await this.spec.history.bounds();
    } catch (error) {
      this.release();
      throw error;
    }
  }

  /** The response is open: replay, then follow live until the connection closes. */
  async run(connection: SseConnection): Promise<void> {
    if (!this.bounds) throw new Error('EventStream.run before prepare');
    this.connection = connection;
    const reset = resetFor(this.spec.afterId, this.bounds);
    if (reset) {
      connection.write(noticeFrame('reset', reset));
      // An id beyond the newest belongs to another history: start this one from its beginning.
      if (this.spec.afterId > this.bounds.newestId) this.lastId = 0;
    }
    await this.catchUp();
    if (this.spec.endedBefore) connection.close('completed');
  }

  /** Releases the live subscription (idempotent); the connection's close calls it. */
  release(): void {
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    unsubscribe?.();
  }

  private get closed(): boolean {
    return this.connection?.isClosed ?? false;
  }

  private onLive(event: E): void {
    if (!this.liveMode) {
      if (this.pending.length < this.maxPending) this.pending.push(event);
      else this.overflowed = true;
      return;
    }
    if (this.offer(event) === 'gap') {
      this.liveMode = false;
      this.pending.push(event);
      // The history is unreadable (database gone): end the stream; the client resumes from
      // its last id once it reconnects, so the gap is never silent.
      this.catchUp().catch(() => this.connection?.close('failed'));
    }
  }

  /** A live event: sent when it is the next id; a duplicate or a gap otherwise. */
  private offer(event: E): 'sent' | 'duplicate' | 'gap' {
    if (event.id <= this.lastId) return 'duplicate'; // de-duplicate at the replay/live seam
    if (event.id > this.lastId + 1) return 'gap';
    this.send(event);
    return 'sent';
  }

  private send(event: E): void {
    const connection = this.connection;
    if (!connection || connection.isClosed) return;
    this.lastId = event.id;
    connection.deliver(this.spec.frame(event));
    if (this.spec.isTerminal(event)) connection.close('completed');
  }

  /**
   * Reads the history after the last id sent until it is exhausted, then delivers the live
   * events held meanwhile; repeats while those show a gap or some were dropped. Switches to
   * live without an await between the last check and the switch, so no event slips past.
   */
  private async catchUp(): Promise<void> {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      let idlePasses = 0;
      for (;;) {
        this.overflowed = false;
        const before = this.lastId;
        await this.replay();
        if (this.closed) return;
        idlePasses = this.lastId === before ? idlePasses + 1 : 0;
        const held = this.pending.splice(0).sort((a, b) => a.id - b.id);
        let gap = this.overflowed;
        for (const event of held) {
          if (gap || this.closed) break;
          const outcome = this.offer(event);
          if (outcome === 'gap' && idlePasses >= MAX_IDLE_PASSES) this.send(event);
          else if (outcome === 'gap') gap = true;
        }
        if (this.closed) return;
        if (!gap) {
          this.liveMode = true;
          return;
        }
      }
    } finally {
      this.catchingUp = false;
    }
  }

  private async replay(): Promise<void> {
    for (;;) {
      const page = await this.spec.history.page(this.lastId, this.pageSize);
      const connection = this.connection;
      if (!connection || connection.isClosed) return;
      for (const event of page) {
        if (event.id <= this.lastId) continue;
        this.send(event);
        if (connection.isClosed) return;
      }
      // The history is exhausted only when a read finds nothing: a source may end a page
      // early (a byte budget), so a short page is not the end.
      if (page.length === 0) return;
      // Backpressure: the next page is read only when the socket has taken this one.
      if (connection.needsDrain) await connection.drained();
    }
  }
}

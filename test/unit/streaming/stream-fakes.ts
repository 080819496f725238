import { Writable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { HistoryBounds, HistorySource, LiveSource } from '../../../src/streaming/event-stream.js';
import type { SseSink } from '../../../src/streaming/sse-connection.js';

export interface TestEvent {
  readonly id: number;
  readonly type: string;
  readonly terminal?: boolean;
}

export const frame = (e: TestEvent) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

/**
 * A socket stand-in: a real Writable whose reader can be paused, so backpressure
 * (`write()` → false, `drain`) and corking behave as Node's sockets do. Parses what the
 * stream hands it, in order, as it is written (a cork only delays when the bytes leave),
 * with the same SSE parser the integration tests use.
 */
export class FakeSocket extends Writable implements SseSink {
  readonly events: EventSourceMessage[] = [];
  readonly comments: string[] = [];
  private readonly parser = createParser({
    onEvent: (e) => this.events.push(e),
    onComment: (c) => this.comments.push(c),
  });
  private paused = false;
  private held: Array<() => void> = [];

  constructor(highWaterMark = 16 * 1024) {
    super({ highWaterMark, decodeStrings: false });
  }

  override write(chunk: string | Uint8Array): boolean {
    if (!this.destroyed && !this.writableEnded) this.parser.feed(String(chunk));
    return super.write(chunk);
  }

  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.paused) this.held.push(() => callback());
    else callback();
  }

  /** Stops taking data: writes queue up in `writableLength`. */
  pauseReading(): void {
    this.paused = true;
  }

  resumeReading(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const release of held) release();
  }

  get ids(): number[] {
    return this.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
  }
}

/**
 * The durable log and its channel, in memory: `append` stores the event (committed) and
 * then fans it out, the order the real publish path keeps. `holdReads()` makes the next
 * history reads wait until `releaseReads()`, so a test can publish while a replay is in
 * the middle of reading.
 */
export class MemoryLog {
  readonly events: TestEvent[] = [];
  oldestId: number | null = null;
  readonly listeners = new Set<(e: TestEvent) => void>();
  pageCalls = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  readsWaiting = 0;
  private snapshot: 'early' | 'late' = 'late';

  append(type: string, opts: { terminal?: boolean; silent?: boolean } = {}): TestEvent {
    const event: TestEvent = { id: (this.events.at(-1)?.id ?? 0) + 1, type, ...(opts.terminal ? { terminal: true } : {}) };
    this.events.push(event);
    this.oldestId ??= event.id;
    if (!opts.silent) this.fanOut(event);
    return event;
  }

  fanOut(event: TestEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  trimTo(oldestId: number): void {
    this.oldestId = oldestId;
  }

  /**
   * `snapshot: 'late'` answers with what is committed when the read is released (the read
   * sees events published while it waited); `'early'` with what was committed when it
   * started, as a PostgreSQL statement's snapshot does.
   */
  holdReads(snapshot: 'early' | 'late' = 'late'): void {
    this.snapshot = snapshot;
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  releaseReads(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  history: HistorySource<TestEvent> = {
    bounds: async (): Promise<HistoryBounds> => ({ oldestId: this.oldestId, newestId: this.events.at(-1)?.id ?? 0 }),
    page: async (afterId, limit) => {
      this.pageCalls += 1;
      const read = () => this.events.filter((e) => e.id > Math.max(afterId, (this.oldestId ?? 1) - 1)).slice(0, limit);
      const early = read();
      if (this.gate) {
        this.readsWaiting += 1;
        await this.gate;
        this.readsWaiting -= 1;
        if (this.snapshot === 'early') return early;
      }
      return read();
    },
  };

  readonly live: LiveSource<TestEvent> = {
    subscribe: async (listener) => {
      this.listeners.add(listener);
      return () => {
        this.listeners.delete(listener);
      };
    },
  };
}

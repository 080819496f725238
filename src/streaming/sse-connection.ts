import type { ServerResponse } from 'node:http';
import { eventsDelivered } from '../telemetry/metrics.js';
import type { OperationEvent } from './events.js';
import { eventFrame, KEEPALIVE_FRAME, noticeFrame } from './sse-format.js';

export interface SseConnectionOptions {
  readonly keepaliveMs: number;
  readonly maxBufferBytes: number;
  readonly onClose: (reason: CloseReason) => void;
}

export type CloseReason = 'completed' | 'client_gone' | 'slow_client' | 'bus_lost' | 'shutdown';

/**
 * One open event stream. Owns its keepalive timer and its buffer bound (PERF-002): bytes the
 * socket has not taken yet are `writableLength`; past `maxBufferBytes` the client is too slow
 * and is cut off, so one stalled reader cannot make the server hold events without bound.
 */
export class SseConnection {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  lastId = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseConnectionOptions,
  ) {
    res.on('close', () => this.finish('client_gone'));
    this.arm();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  sendEvent(event: OperationEvent): void {
    if (this.closed || event.id <= this.lastId) return; // de-duplicate at the replay/live seam
    this.lastId = event.id;
    this.write(eventFrame(event));
    eventsDelivered.add(1);
  }

  sendNotice(type: string, data: unknown): void {
    this.write(noticeFrame(type, data));
  }

  write(chunk: string): void {
    if (this.closed) return;
    this.res.write(chunk);
    if (this.res.writableLength > this.options.maxBufferBytes) {
      this.close('slow_client');
      return;
    }
    this.arm();
  }

  /** Ends the stream: gracefully after the last event, or by dropping a slow client's socket. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    if (reason === 'slow_client') this.res.destroy();
    else this.res.end();
    this.finish(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearTimeout(this.timer);
    this.options.onClose(reason);
  }

  /** (Re)starts the silence timer; `refresh()` reuses the timer instead of allocating one per event. */
  private arm(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.write(KEEPALIVE_FRAME), this.options.keepaliveMs);
  }
}

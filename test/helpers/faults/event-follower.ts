import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { classifyResponse, transportReason } from './contract-check.js';
import type { FaultTally } from './fault-tally.js';

export interface DeliveredEvent {
  readonly id: number;
  readonly type: string;
  /** The publisher's unique mark in the event's data (null for the service's own events). */
  readonly marker: string | null;
  readonly terminal: boolean;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
/** A stream that has not answered with headers by then is a hung request. */
const OPEN_TIMEOUT_MS = 15_000;

/**
 * Follows one operation's event stream the way a browser's EventSource does: on any drop
 * (server ended the stream early, socket reset, 503 at reconnect, refused connection) it
 * reconnects after `retryMs` with `Last-Event-ID` set to the last id it received, until it
 * sees the event carrying a terminal status or is stopped. Everything received is kept in
 * order for the delivery audit.
 */
export class EventFollower {
  readonly delivered: DeliveredEvent[] = [];
  resets = 0;
  connects = 0;
  /** A delivered id not above the one before it: the ids went backwards. */
  idRegressions = 0;
  /** Drops the follower made itself (soak: random drops). */
  ownDrops = 0;
  private lastEventId: string | undefined;
  private attempts = 0;
  private readonly urls: readonly string[];
  private stopped = false;
  private finished = false;
  private controller: AbortController | undefined;
  readonly done: Promise<void>;

  /**
   * `url` may list several instances' URLs of one stream: each reconnect goes to the next (a
   * balancer spreading resumes). With `randomDropMs`, the follower itself drops each open stream
   * after a random time averaging that, then resumes (the soak's random drops).
   */
  constructor(
    url: string | readonly string[],
    private readonly authorization: string,
    private readonly tally: FaultTally,
    private readonly nextCorrelationId: () => string,
    private readonly retryMs = 250,
    private readonly randomDropMs = 0,
  ) {
    this.urls = typeof url === 'string' ? [url] : url;
    this.done = this.run();
  }

  get hasFinished(): boolean {
    return this.finished;
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async run(): Promise<void> {
    while (!this.stopped && !this.finished) {
      await this.connectOnce();
      if (!this.stopped && !this.finished) await sleep(this.retryMs);
    }
  }

  private async connectOnce(): Promise<void> {
    const correlationId = this.nextCorrelationId();
    const controller = new AbortController();
    this.controller = controller;
    const openTimer = setTimeout(() => controller.abort(new DOMException('no headers', 'TimeoutError')), OPEN_TIMEOUT_MS);
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(this.urls[this.attempts++ % this.urls.length] ?? '', {
        headers: {
          accept: 'text/event-stream',
          authorization: this.authorization,
          'x-correlation-id': correlationId,
          ...(this.lastEventId !== undefined ? { 'last-event-id': this.lastEventId } : {}),
        },
        signal: controller.signal,
      });
    } catch (error) {
      clearTimeout(openTimer);
      if (this.stopped) return;
      const reason = transportReason(error);
      // A stream may drop or be refused while the process is down; a hung open is a hung request.
      if (reason === 'timeout') this.tally.record('stream open', correlationId, { kind: 'outside', reason: 'timeout' }, OPEN_TIMEOUT_MS);
      else this.tally.phase.streamDrops++;
      return;
    }
    clearTimeout(openTimer);
    const ms = performance.now() - t0;
    if (res.status !== 200) {
      this.tally.record('stream open', correlationId, await classifyResponse(res, { success: 200, shape: () => false }, correlationId), ms);
      return;
    }
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || res.headers.get('x-correlation-id') !== correlationId) {
      this.tally.record('stream open', correlationId, { kind: 'outside', reason: `stream 200 with content-type ${type}` }, ms);
      controller.abort();
      return;
    }
    this.tally.record('stream open', correlationId, { kind: 'success', body: null }, ms);
    this.connects++;
    const dropTimer =
      this.randomDropMs > 0
        ? setTimeout(
            () => {
              this.ownDrops++;
              controller.abort();
            },
            Math.random() * 2 * this.randomDropMs,
          )
        : undefined;
    const parser = createParser({
      onEvent: (event) => {
        if (event.id !== undefined) this.lastEventId = event.id;
        if (event.event === 'reset') {
          this.resets++;
          return;
        }
        const body = JSON.parse(event.data) as { id: number; type: string; data: unknown; status: string | null };
        const data = body.data as { marker?: unknown } | null;
        const previous = this.delivered.at(-1);
        if (previous && body.id <= previous.id) this.idRegressions++;
        const terminal = body.status !== null && TERMINAL.has(body.status);
        this.delivered.push({ id: body.id, type: body.type, marker: typeof data?.marker === 'string' ? data.marker : null, terminal });
        if (terminal) this.finished = true;
      },
    });
    const decoder = new TextDecoder();
    try {
      if (res.body) for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      // reset or aborted: counted below unless we stopped it
    }
    clearTimeout(dropTimer);
    if (!this.finished && !this.stopped) this.tally.phase.streamDrops++;
  }
}

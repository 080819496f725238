import type { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../lib/errors.js';
import type { StreamEvent } from './event-stream.js';
import type { EventBus, Listener } from './events.js';

/** Redis pub/sub channel of a bus channel. */
const redisChannel = (channel: string) => `jeex:${channel}`;

/** Channels whose newest fan-out is waiting for Redis; beyond it the oldest waiting is dropped (streams resume from PostgreSQL). */
const MAX_UNSENT_CHANNELS = 10_000;

function unavailable(error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError('redis', 'The event bus is unavailable', { cause: error });
}

export interface RedisBusOptions {
  /** How often fan-outs Redis refused are tried again. */
  readonly retryMs?: number;
  /** Told once per failed fan-out (the caller throttles its log). */
  readonly onPublishFailure?: (error: unknown) => void;
}

/**
 * Live fan-out through Redis pub/sub: one PUBLISH per committed event, one shared subscriber
 * per process (docs/adr/0016). Redis holds no history and no sequence: losing it loses no
 * event. A PUBLISH that fails is kept (the newest per channel is enough: a subscriber that
 * sees an id skip reads the missing ones from PostgreSQL) and sent again when Redis answers.
 */
export class RedisEventBus implements EventBus {
  readonly mode = 'redis' as const;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly ready = new Map<string, Promise<void>>();
  private readonly disconnectHandlers: Array<() => void> = [];
  private readonly unsent = new Map<string, { readonly id: number; readonly payload: string }>();
  private readonly retryTimer: NodeJS.Timeout;
  private retrying = false;

  constructor(
    private readonly commands: Redis,
    private readonly subscriber: Redis,
    private readonly options: RedisBusOptions = {},
  ) {
    subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    // A lost subscriber connection may have dropped messages: end the open streams so their
    // clients reconnect and resume from their last id instead of silently missing events.
    subscriber.on('close', () => {
      for (const handler of this.disconnectHandlers) handler();
    });
    this.retryTimer = setInterval(() => void this.retryUnsent(), options.retryMs ?? 1_000);
    this.retryTimer.unref();
  }

  /** Fan-outs waiting for Redis (for health details and tests). */
  get unsentCount(): number {
    return this.unsent.size;
  }

  private dispatch(channel: string, message: string): void {
    const listeners = this.listeners.get(channel);
    if (!listeners || listeners.size === 0) return;
    const event = JSON.parse(message) as StreamEvent;
    for (const listener of listeners) listener(event);
  }

  async publish(channel: string, event: StreamEvent): Promise<void> {
    const payload = JSON.stringify(event);
    try {
      await this.commands.publish(redisChannel(channel), payload);
      const waiting = this.unsent.get(channel);
      if (waiting && waiting.id <= event.id) this.unsent.delete(channel);
    } catch (error) {
      this.keepUnsent(channel, event.id, payload);
      this.options.onPublishFailure?.(error);
    }
  }

  private keepUnsent(channel: string, id: number, payload: string): void {
    const waiting = this.unsent.get(channel);
    if (waiting && waiting.id > id) return;
    this.unsent.delete(channel);
    this.unsent.set(channel, { id, payload });
    if (this.unsent.size > MAX_UNSENT_CHANNELS) {
      const oldest = this.unsent.keys().next().value;
      if (oldest !== undefined) this.unsent.delete(oldest);
    }
  }

  private async retryUnsent(): Promise<void> {
    if (this.retrying || this.unsent.size === 0 || this.commands.status !== 'ready') return;
    this.retrying = true;
    try {
      for (const [channel, waiting] of [...this.unsent]) {
        await this.commands.publish(redisChannel(channel), waiting.payload);
        if (this.unsent.get(channel) === waiting) this.unsent.delete(channel);
      }
    } catch {
      // Still away: the next tick tries again.
    } finally {
      this.retrying = false;
    }
  }

  async subscribe<E extends StreamEvent>(channel: string, listener: Listener<E>): Promise<() => void> {
    if (this.subscriber.status !== 'ready') throw unavailable(new Error(`subscriber connection is ${this.subscriber.status}`));
    const name = redisChannel(channel);
    const l = listener as Listener;
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
      // Later subscribers of the same channel wait for the same acknowledgement.
      this.ready.set(
        name,
        this.subscriber.subscribe(name).then(() => undefined),
      );
    }
    set.add(l);
    try {
      await this.ready.get(name);
    } catch (error) {
      this.release(name, l);
      throw unavailable(error);
    }
    return () => this.release(name, l);
  }

  private release(name: string, listener: Listener): void {
    const set = this.listeners.get(name);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) {
      this.listeners.delete(name);
      this.ready.delete(name);
      this.subscriber.unsubscribe(name).catch(() => undefined);
    }
  }

  subscriberCount(channel: string): number {
    return this.listeners.get(redisChannel(channel))?.size ?? 0;
  }

  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.push(handler);
  }

  async close(): Promise<void> {
    clearInterval(this.retryTimer);
    this.listeners.clear();
  }
}

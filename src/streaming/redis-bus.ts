import type { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../lib/errors.js';
import type { StreamEvent } from './event-stream.js';
import type { EventBus, Listener } from './events.js';

/** Redis pub/sub channel of a bus channel on one Redis. */
const redisChannel = (channel: string) => `jeex:${channel}`;

/** Channels whose newest fan-out is waiting for Redis; beyond it the oldest waiting is dropped (streams resume from PostgreSQL). */
const MAX_UNSENT_CHANNELS = 10_000;

function unavailable(error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError('redis', 'The event bus is unavailable', { cause: error });
}

/**
 * How the bus reaches Redis: classic pub/sub on one Redis, sharded pub/sub on a cluster
 * (src/plugins/infra/redis-cluster.ts, docs/adr/0027). The bus keeps its listeners, retries and disconnect handling above it.
 */
export interface PubSubTransport {
  /** The Redis channel that carries a bus channel. */
  channelName(channel: string): string;
  publish(channel: string, payload: string): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** Commands can be sent now (else a retry waits). */
  readonly canPublish: boolean;
  /** Why a subscription cannot be made now, or null when it can. */
  readonly subscribeBlocker: string | null;
  onMessage(handler: (channel: string, message: string) => void): void;
  /** A subscriber connection went away: messages may have been missed. */
  onSubscriptionLost(handler: () => void): void;
}

/** One Redis: PUBLISH on the command connection, SUBSCRIBE on a dedicated one. */
export function singleNodeTransport(commands: Redis, subscriber: Redis): PubSubTransport {
  return {
    channelName: redisChannel,
    publish: (channel, payload) => commands.publish(channel, payload),
    subscribe: (channel) => subscriber.subscribe(channel),
    unsubscribe: (channel) => subscriber.unsubscribe(channel),
    get canPublish() {
      return commands.status === 'ready';
    },
    get subscribeBlocker() {
      return subscriber.status === 'ready' ? null : `subscriber connection is ${subscriber.status}`;
    },
    onMessage: (handler) => subscriber.on('message', handler),
    onSubscriptionLost: (handler) => subscriber.on('close', handler),
  };
}

/** How long a subscription may wait for Redis before the stream answers 503 (a dead shard never answers). */
const SUBSCRIBE_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
    private readonly transport: PubSubTransport,
    private readonly options: RedisBusOptions = {},
  ) {
    transport.onMessage((channel, message) => this.dispatch(channel, message));
    // A lost subscriber connection may have dropped messages: end the open streams so their
    // clients reconnect and resume from their last id instead of silently missing events.
    transport.onSubscriptionLost(() => {
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
      await this.transport.publish(this.transport.channelName(channel), payload);
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
    if (this.retrying || this.unsent.size === 0 || !this.transport.canPublish) return;
    this.retrying = true;
    try {
      for (const [channel, waiting] of [...this.unsent]) {
        await this.transport.publish(this.transport.channelName(channel), waiting.payload);
        if (this.unsent.get(channel) === waiting) this.unsent.delete(channel);
      }
    } catch {
      // Still away: the next tick tries again.
    } finally {
      this.retrying = false;
    }
  }

  async subscribe<E extends StreamEvent>(channel: string, listener: Listener<E>): Promise<() => void> {
    const blocker = this.transport.subscribeBlocker;
    if (blocker !== null) throw unavailable(new Error(blocker));
    const name = this.transport.channelName(channel);
    const l = listener as Listener;
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
      // Later subscribers of the same channel wait for the same acknowledgement.
      this.ready.set(
        name,
        withTimeout(this.transport.subscribe(name), SUBSCRIBE_TIMEOUT_MS).then(() => undefined),
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
      this.transport.unsubscribe(name).catch(() => undefined);
    }
  }

  subscriberCount(channel: string): number {
    return this.listeners.get(this.transport.channelName(channel))?.size ?? 0;
  }

  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.push(handler);
  }

  async close(): Promise<void> {
    clearInterval(this.retryTimer);
    this.listeners.clear();
  }
}

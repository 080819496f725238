import {
  type EventBus,
  type EventInput,
  type History,
  keyString,
  type Listener,
  type OperationEvent,
  type OperationKey,
} from './events.js';

interface Channel {
  seq: number;
  events: OperationEvent[];
  listeners: Set<Listener>;
  touched: number;
}

/** Like the Redis keys' expiry: an operation's history is dropped a day after its last event. */
const IDLE_TTL_MS = 24 * 60 * 60 * 1000;

/** Single-instance bus for development and tests without Redis (same semantics as the Redis bus). */
export class InProcessEventBus implements EventBus {
  readonly mode = 'in-process' as const;
  private readonly channels = new Map<string, Channel>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly retain: number) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  private sweep(): void {
    const cutoff = Date.now() - IDLE_TTL_MS;
    for (const [k, channel] of this.channels) {
      if (channel.listeners.size === 0 && channel.touched < cutoff) this.channels.delete(k);
    }
  }

  private channel(key: OperationKey): Channel {
    const k = keyString(key);
    let channel = this.channels.get(k);
    if (!channel) {
      channel = { seq: 0, events: [], listeners: new Set(), touched: Date.now() };
      this.channels.set(k, channel);
    }
    return channel;
  }

  async publish(key: OperationKey, input: EventInput): Promise<OperationEvent> {
    const channel = this.channel(key);
    channel.seq += 1;
    channel.touched = Date.now();
    const event: OperationEvent = { ...input, id: channel.seq, operation_id: key.operationId, created_at: new Date().toISOString() };
    channel.events.push(event);
    if (channel.events.length > this.retain) channel.events.splice(0, channel.events.length - this.retain);
    for (const listener of channel.listeners) listener(event);
    return event;
  }

  async history(key: OperationKey, afterId: number): Promise<History> {
    const events = this.channels.get(keyString(key))?.events ?? [];
    const oldest = events[0];
    const reset = oldest !== undefined && afterId + 1 < oldest.id ? { oldest_id: String(oldest.id) } : null;
    return { events: events.filter((e) => e.id > afterId), reset };
  }

  async subscribe(key: OperationKey, listener: Listener): Promise<() => void> {
    const channel = this.channel(key);
    channel.listeners.add(listener);
    return () => {
      channel.listeners.delete(listener);
    };
  }

  subscriberCount(key: OperationKey): number {
    return this.channels.get(keyString(key))?.listeners.size ?? 0;
  }

  onDisconnect(): void {
    // Never disconnects.
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.channels.clear();
  }
}

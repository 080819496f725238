import type { StreamEvent } from './event-stream.js';
import type { EventBus, Listener } from './events.js';

/** Single-instance fan-out for development and tests without Redis (same semantics as the Redis bus). */
export class InProcessEventBus implements EventBus {
  readonly mode = 'in-process' as const;
  private readonly channels = new Map<string, Set<Listener>>();

  async publish(channel: string, event: StreamEvent): Promise<void> {
    for (const listener of this.channels.get(channel) ?? []) listener(event);
  }

  async subscribe<E extends StreamEvent>(channel: string, listener: Listener<E>): Promise<() => void> {
    let listeners = this.channels.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.channels.set(channel, listeners);
    }
    const set = listeners;
    set.add(listener as Listener);
    return () => {
      set.delete(listener as Listener);
      if (set.size === 0 && this.channels.get(channel) === set) this.channels.delete(channel);
    };
  }

  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  onDisconnect(): void {
    // Never disconnects.
  }

  async close(): Promise<void> {
    this.channels.clear();
  }
}

import type { StreamEvent } from '../streaming/event-stream.js';
import type { EventBus } from '../streaming/events.js';

/**
 * Wake-ups of long-polling workers (docs/adr/0020): after an operation becomes pending (created,
 * or returned by the expiry sweep) a wake-up goes on the event bus, which reaches every API
 * instance (Redis pub/sub) — no extra PostgreSQL connection for LISTEN. A lost wake-up costs at
 * most RECHECK_MS: waiting polls look again that often.
 */
export const WORKER_WAKE_CHANNEL = 'workers:wake';
/** How often a waiting poll looks at the queue when no wake-up came (a safety net, not the path). */
export const RECHECK_MS = 5000;

interface WakeEvent extends StreamEvent {
  /** The kind that became pending; null: any kind. */
  readonly kind: string | null;
}

export async function wakeWorkers(bus: EventBus, kind: string | null): Promise<void> {
  const event: WakeEvent = { id: Date.now(), kind };
  await bus.publish(WORKER_WAKE_CHANNEL, event);
}

interface Waiter {
  readonly kinds: ReadonlySet<string>;
  readonly wake: () => void;
}

/** One subscription per process; waiting polls register here and are woken by kind. */
export class WakeUps {
  private readonly waiters = new Set<Waiter>();
  private subscribed: Promise<() => void> | undefined;

  constructor(private readonly bus: EventBus) {}

  /**
   * A wake-up to wait for, registered at once (before the caller looks at the queue, so a
   * wake-up between the look and the wait is not lost): resolves on a wake-up for one of the
   * kinds, after `ms`, or when `signal` aborts.
   */
  async arm(kinds: readonly string[], ms: number, signal: AbortSignal): Promise<{ wait: () => Promise<void>; cancel: () => void }> {
    if (!this.subscribed) {
      const attempt = this.bus.subscribe<WakeEvent>(WORKER_WAKE_CHANNEL, (event) => this.dispatch(event.kind));
      this.subscribed = attempt;
      // A failed subscription (the bus is down) is not kept: the next poll tries again, and
      // close() does not meet a rejection nobody handles (the in-process export worker polls from
      // start-up, docs/adr/0023).
      attempt.catch(() => {
        if (this.subscribed === attempt) this.subscribed = undefined;
      });
    }
    await this.subscribed;
    let waiter: Waiter | undefined;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const woken = new Promise<void>((resolve) => {
      waiter = { kinds: new Set(kinds), wake: resolve };
      this.waiters.add(waiter);
      timer = setTimeout(resolve, ms);
      onAbort = () => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const cancel = () => {
      if (waiter) this.waiters.delete(waiter);
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    };
    return { wait: () => woken.finally(cancel), cancel };
  }

  private dispatch(kind: string | null): void {
    for (const waiter of this.waiters) {
      if (kind === null || waiter.kinds.has(kind)) {
        this.waiters.delete(waiter);
        waiter.wake();
      }
    }
  }

  async close(): Promise<void> {
    const unsubscribe = await this.subscribed?.catch(() => undefined);
    unsubscribe?.();
    for (const waiter of this.waiters) waiter.wake();
    this.waiters.clear();
  }
}

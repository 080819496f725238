import type { OperationStatus } from '../db/types.js';
import type { StreamEvent } from './event-stream.js';

/** Statuses that end an operation and its streams. */
export const TERMINAL_STATUSES: ReadonlySet<OperationStatus> = new Set(['completed', 'failed', 'cancelled']);

export function isTerminal(status: OperationStatus | null | undefined): boolean {
  return status !== null && status !== undefined && TERMINAL_STATUSES.has(status);
}

/** At most this much JSON in one event's `data` (docs/adr/0016). */
export const MAX_EVENT_DATA_BYTES = 64 * 1024;
/** At most this much event `data` retained per operation; the oldest events go first (docs/adr/0016). */
export const MAX_RETAINED_EVENT_BYTES = 8 * 1024 * 1024;

/** What a worker or client publishes. */
export interface EventInput {
  readonly type: string;
  readonly data: unknown;
  readonly status: OperationStatus | null;
}

/**
 * A stored progress event. `id` is the operation's own sequence number (1, 2, 3, …), kept by
 * PostgreSQL: monotonic, gap-free, and used as the SSE `id`, so "is anything missing?" is
 * arithmetic.
 */
export interface OperationEvent extends EventInput, StreamEvent {
  readonly operation_id: string;
  readonly created_at: string;
}

/** An event read back from the history: `data` stays the JSON text it was stored as. */
export interface ReplayedEvent extends Omit<OperationEvent, 'data'> {
  readonly dataJson: string;
}

/** What an operation's stream carries: live events and replayed ones. */
export type OperationStreamEvent = OperationEvent | ReplayedEvent;

/** The channel of one operation; the project is part of the key so keys never collide across projects. */
export interface OperationKey {
  readonly projectId: string;
  readonly operationId: string;
}

export function operationChannel(key: OperationKey): string {
  return `op:${key.projectId}:${key.operationId}`;
}

export type Listener<E extends StreamEvent = StreamEvent> = (event: E) => void;

/**
 * The live fan-out of committed events (docs/adr/0016). PostgreSQL holds the history and the
 * sequence; the bus only carries each event, after its COMMIT, to the subscribers of its
 * channel on every instance. Two implementations with this one interface: in-process (single
 * instance, development) and Redis pub/sub (several instances).
 */
export interface EventBus {
  readonly mode: 'in-process' | 'redis';
  /**
   * Fans a committed event out. Never fails the caller: the event is already durable; a
   * fan-out the bus cannot make now is retried by it, and streams fill any gap they see
   * from the history.
   */
  publish(channel: string, event: StreamEvent): Promise<void>;
  /** Registers a live listener; resolves once the subscription is active on the bus. */
  subscribe<E extends StreamEvent>(channel: string, listener: Listener<E>): Promise<() => void>;
  /** Local listeners of one channel on this instance (for tests and metrics). */
  subscriberCount(channel: string): number;
  /** Called when the bus loses its backing store: open streams must end. */
  onDisconnect(handler: () => void): void;
  close(): Promise<void>;
}

import type { OperationStatus } from '../db/types.js';

/** Statuses that end an operation and its streams. */
export const TERMINAL_STATUSES: ReadonlySet<OperationStatus> = new Set(['completed', 'failed', 'cancelled']);

export function isTerminal(status: OperationStatus | null | undefined): boolean {
  return status !== null && status !== undefined && TERMINAL_STATUSES.has(status);
}

/** What a worker or client publishes. */
export interface EventInput {
  readonly type: string;
  readonly data: unknown;
  readonly status: OperationStatus | null;
}

/**
 * A stored progress event. `id` is the operation's own sequence number (1, 2, 3, …):
 * monotonic, gap-free, and used as the SSE `id`, so "is anything missing?" is arithmetic.
 */
export interface OperationEvent extends EventInput {
  readonly id: number;
  readonly operation_id: string;
  readonly created_at: string;
}

/** The channel of one operation; the project is part of the key so keys never collide across projects. */
export interface OperationKey {
  readonly projectId: string;
  readonly operationId: string;
}

export function keyString(key: OperationKey): string {
  return `${key.projectId}:${key.operationId}`;
}

export interface History {
  readonly events: OperationEvent[];
  /** Set when events after the requested id were already dropped from the retained history. */
  readonly reset: { readonly oldest_id: string } | null;
}

export type Listener = (event: OperationEvent) => void;

/**
 * The event bus: history for resume plus live fan-out. Two implementations with this one
 * interface: in-process (single instance, development) and Redis (several instances).
 */
export interface EventBus {
  readonly mode: 'in-process' | 'redis';
  /** Appends to the history and fans out to every subscriber on every instance. */
  publish(key: OperationKey, input: EventInput): Promise<OperationEvent>;
  /** Retained events with id > afterId (all retained when afterId is 0). */
  history(key: OperationKey, afterId: number): Promise<History>;
  /** Registers a live listener; resolves once the subscription is active on the bus. */
  subscribe(key: OperationKey, listener: Listener): Promise<() => void>;
  /** Local listeners of one operation on this instance (for tests and metrics). */
  subscriberCount(key: OperationKey): number;
  /** Called when the bus loses its backing store: open streams must end. */
  onDisconnect(handler: () => void): void;
  close(): Promise<void>;
}

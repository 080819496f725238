import type { Kysely } from 'kysely';
import { type ProjectScope, serviceScope } from '../access/project-scope.js';
import type { Database, Operation, OperationStatus } from '../db/types.js';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../lib/errors.js';
import { LeasesRepository } from '../repositories/leases.repository.js';
import { type NewEvent, OperationEventsRepository, type Retention } from '../repositories/operation-events.repository.js';
import { OperationsRepository } from '../repositories/operations.repository.js';
import type { Db } from '../repositories/scoped.repository.js';
import type { HistorySource } from '../streaming/event-stream.js';
import {
  type EventBus,
  MAX_EVENT_DATA_BYTES,
  MAX_RETAINED_EVENT_BYTES,
  type OperationEvent,
  type OperationStreamEvent,
  operationChannel,
} from '../streaming/events.js';
import { eventsPublished } from '../telemetry/metrics.js';
import { type AuditLog, actorOf } from './audit.service.js';
import { EXPORT_KIND } from './exports.service.js';
import { wakeWorkers } from './worker-wake.js';
import { confirmWriteAccess } from './write-access.js';

export interface PublishInput {
  readonly type: string;
  readonly data?: unknown;
  readonly status?: OperationStatus | undefined;
  /** The worker's own event number (docs/contract.md §8): the same `seq` twice stores one event. */
  readonly seq?: number | undefined;
}

export interface Published {
  readonly event: OperationEvent;
  /** True when this `seq` was already stored: the stored event, nothing delivered again. */
  readonly duplicate: boolean;
}

export interface OperationsServiceOptions {
  /** Events kept per operation for resume (SSE_REPLAY_EVENTS). */
  readonly replayEvents: number;
  /** Bytes of event data kept per operation; default 8 MiB (docs/adr/0016). */
  readonly replayBytes?: number;
  /** Leases an operation gets before it fails (WORKER_MAX_ATTEMPTS). */
  readonly maxAttempts?: number;
}

/** Event types the service alone writes (docs/contract.md §8): anyone else → 422. */
export const RESERVED_EVENT_PREFIX = 'operation.';

const UNIQUE_VIOLATION = '23505';

/** Operations and their progress events (REQ-006), cancel and lease expiry (docs/contract.md §8). */
export class OperationsService {
  private readonly operations: OperationsRepository;
  private readonly events: OperationEventsRepository;
  private readonly retention: Retention;
  private readonly maxAttempts: number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly bus: EventBus,
    options: OperationsServiceOptions,
  ) {
    this.operations = new OperationsRepository(db);
    this.events = new OperationEventsRepository(db);
    this.retention = { events: options.replayEvents, bytes: options.replayBytes ?? MAX_RETAINED_EVENT_BYTES };
    this.maxAttempts = options.maxAttempts ?? 3;
  }

  async create(scope: ProjectScope, kind: string, input: Record<string, unknown> | undefined): Promise<Operation> {
    // The service's own export worker takes `export` operations and needs the export row that
    // POST …/exports writes with them (docs/adr/0023): that is the one way to start one.
    if (kind === EXPORT_KIND) {
      throw new ValidationError('Request validation failed', [
        { path: 'body/kind', message: `operations of kind "${EXPORT_KIND}" are started with POST /projects/{project_id}/exports` },
      ]);
    }
    const operation = await this.db.transaction().execute(async (tx) => {
      // The guard ran before this transaction: a deletion or demotion may have committed since.
      await confirmWriteAccess(tx, scope, 'editor');
      const created = await new OperationsRepository(tx).create(scope, {
        projectId: scope.projectId,
        kind,
        input: input ?? {},
        createdBy: scope.userId,
      });
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'operation.create',
        target: { type: 'operation', id: created.id },
        changes: { kind },
      });
      return created;
    });
    // After COMMIT: a woken worker must find the operation (docs/adr/0020).
    await wakeWorkers(this.bus, kind);
    return operation;
  }

  async get(scope: ProjectScope, operationId: string): Promise<Operation> {
    const operation = await this.operations.get(scope, operationId);
    if (!operation) throw new NotFoundError(`Operation ${operationId} not found`);
    return operation;
  }

  /** Appends an event and fans it out; see `publishOnce`. */
  async publish(scope: ProjectScope, operationId: string, input: PublishInput): Promise<OperationEvent> {
    return (await this.publishOnce(scope, operationId, input)).event;
  }

  /**
   * Appends an event and fans it out (docs/adr/0016). The event, its sequence number and the
   * status change it carries are one statement in PostgreSQL; only after its COMMIT does the
   * bus see it. So a publish that fails (COMMIT refused, database gone) is seen by nobody,
   * and one that was acknowledged is in the history whatever Redis did with it.
   *
   * Workers (docs/contract.md §8, docs/adr/0020): a `seq` already stored returns that event and
   * delivers nothing; through an operation token the lease must be current (else 409, fencing) and
   * the event extends it; `operation.*` types are the service's own (422); a `cancelled` status is
   * stored on the worker's event without ending the operation, and `operation.cancelled` follows
   * it in the same transaction, so that is always the last event.
   */
  async publishOnce(scope: ProjectScope, operationId: string, input: PublishInput): Promise<Published> {
    if (input.type.startsWith(RESERVED_EVENT_PREFIX)) {
      throw new ValidationError('Request validation failed', [
        { path: 'body/type', message: `event types starting with "${RESERVED_EVENT_PREFIX}" are reserved for the service` },
      ]);
    }
    const dataJson = JSON.stringify(input.data ?? null);
    const bytes = Buffer.byteLength(dataJson);
    if (bytes > MAX_EVENT_DATA_BYTES) {
      throw new PayloadTooLargeError(`Event data is ${bytes} bytes of JSON; the limit is ${MAX_EVENT_DATA_BYTES}`);
    }
    const status = input.status ?? null;
    const lease = scope.actor ? { id: scope.actor.leaseId, worker: scope.actor.worker } : undefined;
    const event: NewEvent = {
      type: input.type,
      dataJson,
      bytes,
      status: status === 'cancelled' ? null : status,
      error: status === 'failed' ? errorText(input.data) : null,
      clientSeq: input.seq,
      lease,
    };
    let appended: OperationEvent[];
    try {
      if (status !== 'cancelled') {
        // The common case stays one statement, no transaction round trips (docs/adr/0016).
        const only = await this.events.append(scope, operationId, event, this.retention);
        appended = only ? [only] : [];
      } else {
        appended = await this.db.transaction().execute(async (tx) => {
          const first = await new OperationEventsRepository(tx).append(scope, operationId, event, this.retention);
          if (!first) return [];
          const last = await this.appendOwn(tx, scope, operationId, 'operation.cancelled', { reason: 'cancelled' }, 'cancelled');
          return last ? [first, last] : [first];
        });
      }
    } catch (error) {
      // Two publishes of one `seq` at once: the unique index lets one in; the other reads it.
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION || input.seq === undefined) throw error;
      appended = [];
    }
    if (appended.length === 0) return { event: await this.explainRefusal(scope, operationId, input.seq), duplicate: true };
    for (const stored of appended) {
      eventsPublished.add(1);
      await this.bus.publish(operationChannel({ projectId: scope.projectId, operationId }), stored);
    }
    return { event: appended[0] as OperationEvent, duplicate: false };
  }

  /** Why nothing was appended: a stored `seq` (its event), else 404, a stale lease (409) or an ended operation (409). */
  private async explainRefusal(scope: ProjectScope, operationId: string, seq: number | undefined): Promise<OperationEvent> {
    if (seq !== undefined) {
      const stored = await this.events.findByClientSeq(scope, operationId, seq);
      if (stored) return stored;
    }
    const operation = await this.operations.get(scope, operationId);
    if (!operation) throw new NotFoundError(`Operation ${operationId} not found`);
    if (scope.actor) throw new ConflictError(`Lease ${scope.actor.leaseId} is no longer current`);
    throw new ConflictError(`Operation ${operationId} has already ended (${operation.status})`);
  }

  /**
   * `POST …/operations/{id}/cancel` (docs/contract.md §8): a pending operation ends `cancelled` at
   * once; a running one is marked, its worker learns it on its next heartbeat and ends it (or its
   * lease runs out: never retried). Cancelling a cancelled operation again changes nothing; one
   * that completed or failed → 409.
   */
  async cancel(scope: ProjectScope, operationId: string): Promise<Operation> {
    const event = await this.db.transaction().execute(async (tx) => {
      await confirmWriteAccess(tx, scope, 'editor');
      const leases = new LeasesRepository(tx);
      const current = await leases.lockForCancel(scope.projectId, operationId);
      if (!current) throw new NotFoundError(`Operation ${operationId} not found`);
      if (current.status === 'completed' || current.status === 'failed') {
        throw new ConflictError(`Operation ${operationId} has already ended (${current.status})`);
      }
      if (current.status === 'cancelled' || current.cancelRequested) return undefined;
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'operation.cancel',
        target: { type: 'operation', id: operationId },
        changes: { status_was: current.status },
      });
      if (current.status === 'pending') {
        return this.appendOwn(tx, scope, operationId, 'operation.cancelled', { reason: 'cancel_requested' }, 'cancelled');
      }
      await leases.requestCancel(scope.projectId, operationId);
      return undefined;
    });
    if (event) await this.fanOut(scope.projectId, event);
    return this.get(scope, operationId);
  }

  /**
   * Leases that expired without a heartbeat or event (docs/contract.md §8), handled exactly once
   * across instances (LeasesRepository.lockExpired): a cancel-requested operation ends
   * `cancelled`, one on its last attempt ends `failed` (`operation.failed`), any other returns to
   * `pending` with `operation.retrying` and wakes waiting workers. Returns how many were handled.
   */
  async expireLeases(limit = 50): Promise<number> {
    const done = await this.db.transaction().execute(async (tx) => {
      const expired = await new LeasesRepository(tx).lockExpired(limit);
      const out: { projectId: string; event: OperationEvent; kindToWake: boolean }[] = [];
      for (const lease of expired) {
        const scope = serviceScope(lease.projectId);
        let event: OperationEvent | undefined;
        if (lease.cancelRequested) {
          event = await this.appendOwn(tx, scope, lease.id, 'operation.cancelled', { reason: 'lease_expired' }, 'cancelled');
        } else if (lease.attempt >= this.maxAttempts) {
          event = await this.appendOwn(tx, scope, lease.id, 'operation.failed', { reason: 'lease_expired' }, 'failed', {
            error: 'lease_expired',
          });
        } else {
          const data = { attempt: lease.attempt + 1, reason: 'lease_expired' };
          event = await this.appendOwn(tx, scope, lease.id, 'operation.retrying', data, null, { operationStatus: 'pending' });
        }
        if (event) out.push({ projectId: lease.projectId, event, kindToWake: !lease.cancelRequested && lease.attempt < this.maxAttempts });
      }
      return out;
    });
    for (const { projectId, event, kindToWake } of done) {
      await this.fanOut(projectId, event);
      if (kindToWake) await wakeWorkers(this.bus, null);
    }
    return done.length;
  }

  /** The service's own event (`operation.*`), appended in the caller's transaction. */
  async appendOwn(
    tx: Db,
    scope: ProjectScope,
    operationId: string,
    type: string,
    data: unknown,
    status: OperationStatus | null,
    more: { readonly error?: string; readonly operationStatus?: OperationStatus } = {},
  ): Promise<OperationEvent | undefined> {
    const dataJson = JSON.stringify(data);
    return new OperationEventsRepository(tx).append(
      scope,
      operationId,
      { type, dataJson, bytes: Buffer.byteLength(dataJson), status, error: more.error ?? null, operationStatus: more.operationStatus },
      this.retention,
    );
  }

  /** Publishes a committed event on its operation's channel. */
  async fanOut(projectId: string, event: OperationEvent): Promise<void> {
    eventsPublished.add(1);
    await this.bus.publish(operationChannel({ projectId, operationId: event.operation_id }), event);
  }

  /** The durable history a stream of this operation replays, in pages. */
  history(scope: ProjectScope, operationId: string): HistorySource<OperationStreamEvent> {
    return {
      bounds: () => this.events.bounds(scope, operationId),
      page: (afterId, limit) => this.events.page(scope, operationId, afterId, limit),
    };
  }
}

function errorText(data: unknown): string | null {
  if (data && typeof data === 'object' && 'error' in data) {
    const value = (data as { error: unknown }).error;
    return typeof value === 'string' ? value.slice(0, 2000) : JSON.stringify(value).slice(0, 2000);
  }
  return null;
}

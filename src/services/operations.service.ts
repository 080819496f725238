import type { Kysely } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database, Operation, OperationStatus } from '../db/types.js';
import { ConflictError, NotFoundError, PayloadTooLargeError } from '../lib/errors.js';
import { OperationEventsRepository, type Retention } from '../repositories/operation-events.repository.js';
import { OperationsRepository } from '../repositories/operations.repository.js';
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

export interface PublishInput {
  readonly type: string;
  readonly data?: unknown;
  readonly status?: OperationStatus | undefined;
}

export interface OperationsServiceOptions {
  /** Events kept per operation for resume (SSE_REPLAY_EVENTS). */
  readonly replayEvents: number;
  /** Bytes of event data kept per operation; default 8 MiB (docs/adr/0016). */
  readonly replayBytes?: number;
}

/** Operations and their progress events (REQ-006). Workers call `publish` too. */
export class OperationsService {
  private readonly operations: OperationsRepository;
  private readonly events: OperationEventsRepository;
  private readonly retention: Retention;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly bus: EventBus,
    options: OperationsServiceOptions,
  ) {
    this.operations = new OperationsRepository(db);
    this.events = new OperationEventsRepository(db);
    this.retention = { events: options.replayEvents, bytes: options.replayBytes ?? MAX_RETAINED_EVENT_BYTES };
  }

  create(scope: ProjectScope, kind: string, input: Record<string, unknown> | undefined): Promise<Operation> {
    return this.db.transaction().execute(async (tx) => {
      const operation = await new OperationsRepository(tx).create(scope, {
        projectId: scope.projectId,
        kind,
        input: input ?? {},
        createdBy: scope.userId,
      });
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'operation.create',
        target: { type: 'operation', id: operation.id },
        changes: { kind },
      });
      return operation;
    });
  }

  async get(scope: ProjectScope, operationId: string): Promise<Operation> {
    const operation = await this.operations.get(scope, operationId);
    if (!operation) throw new NotFoundError(`Operation ${operationId} not found`);
    return operation;
  }

  /**
   * Appends an event and fans it out (docs/adr/0016). The event, its sequence number and the
   * status change it carries are one statement in PostgreSQL; only after its COMMIT does the
   * bus see it. So a publish that fails (COMMIT refused, database gone) is seen by nobody,
   * and one that was acknowledged is in the history whatever Redis did with it.
   */
  async publish(scope: ProjectScope, operationId: string, input: PublishInput): Promise<OperationEvent> {
    const dataJson = JSON.stringify(input.data ?? null);
    const bytes = Buffer.byteLength(dataJson);
    if (bytes > MAX_EVENT_DATA_BYTES) {
      throw new PayloadTooLargeError(`Event data is ${bytes} bytes of JSON; the limit is ${MAX_EVENT_DATA_BYTES}`);
    }
    const status = input.status ?? null;
    const event = await this.events.append(
      scope,
      operationId,
      { type: input.type, dataJson, bytes, status, error: status === 'failed' ? errorText(input.data) : null },
      this.retention,
    );
    if (!event) {
      const operation = await this.operations.get(scope, operationId);
      if (!operation) throw new NotFoundError(`Operation ${operationId} not found`);
      throw new ConflictError(`Operation ${operationId} has already ended (${operation.status})`);
    }
    eventsPublished.add(1);
    await this.bus.publish(operationChannel({ projectId: scope.projectId, operationId }), event);
    return event;
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

import type { Kysely } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database, Operation, OperationStatus } from '../db/types.js';
import { ConflictError, NotFoundError } from '../lib/errors.js';
import { OperationsRepository } from '../repositories/operations.repository.js';
import { type EventBus, isTerminal, type OperationEvent } from '../streaming/events.js';
import { eventsPublished } from '../telemetry/metrics.js';

export interface PublishInput {
  readonly type: string;
  readonly data?: unknown;
  readonly status?: OperationStatus | undefined;
}

/** Operations and their progress events (REQ-006). Workers call `publish` too. */
export class OperationsService {
  private readonly operations: OperationsRepository;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly bus: EventBus,
  ) {
    this.operations = new OperationsRepository(db);
  }

  create(scope: ProjectScope, kind: string, input: Record<string, unknown> | undefined): Promise<Operation> {
    return this.operations.create(scope, { projectId: scope.projectId, kind, input: input ?? {}, createdBy: scope.userId });
  }

  async get(scope: ProjectScope, operationId: string): Promise<Operation> {
    const operation = await this.operations.get(scope, operationId);
    if (!operation) throw new NotFoundError(`Operation ${operationId} not found`);
    return operation;
  }

  /**
   * Appends an event and fans it out. The operation row is locked while the event is
   * published, so its status and its history cannot disagree: if the bus refuses the event
   * (Redis down → 503), the status change is rolled back with it.
   */
  async publish(scope: ProjectScope, operationId: string, input: PublishInput): Promise<OperationEvent> {
    return this.db.transaction().execute(async (tx) => {
      const operations = new OperationsRepository(tx);
      const operation = await operations.getForUpdate(scope, operationId);
      if (!operation) throw new NotFoundError(`Operation ${operationId} not found`);
      if (isTerminal(operation.status)) throw new ConflictError(`Operation ${operationId} has already ended (${operation.status})`);
      if (input.status !== undefined && input.status !== operation.status) {
        const error = input.status === 'failed' ? errorText(input.data) : undefined;
        await operations.setStatus(scope, operationId, input.status, error);
      }
      const event = await this.bus.publish(
        { projectId: scope.projectId, operationId },
        { type: input.type, data: input.data ?? null, status: input.status ?? null },
      );
      eventsPublished.add(1);
      return event;
    });
  }
}

function errorText(data: unknown): string | null {
  if (data && typeof data === 'object' && 'error' in data) {
    const value = (data as { error: unknown }).error;
    return typeof value === 'string' ? value.slice(0, 2000) : JSON.stringify(value).slice(0, 2000);
  }
  return null;
}

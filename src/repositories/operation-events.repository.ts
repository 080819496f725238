import { sql } from 'kysely';
import type { OperationStatus } from '../db/types.js';
import type { HistoryBounds } from '../streaming/event-stream.js';
import type { OperationEvent } from '../streaming/events.js';
import type { ProjectScope } from './project-scope.js';
import { ScopedRepository } from './scoped.repository.js';

export interface NewEvent {
  readonly type: string;
  /** `data` as JSON text, exactly as it will be replayed. */
  readonly dataJson: string;
  readonly bytes: number;
  readonly status: OperationStatus | null;
  /** The operation's `error` when this event fails it. */
  readonly error: string | null;
}

export interface Retention {
  /** Events kept per operation (SSE_REPLAY_EVENTS). */
  readonly events: number;
  /** Bytes of `data` kept per operation. */
  readonly bytes: number;
}

interface EventRow {
  id: number;
  type: string;
  data: unknown;
  status: OperationStatus | null;
  created: Date;
}

/**
 * The durable event log of operations (docs/adr/0016): the source of truth for event ids and
 * for every replay. Written only through `append`, one statement, so the event, the sequence
 * and the status change commit together.
 */
export class OperationEventsRepository extends ScopedRepository {
  /**
   * Numbers the event under the operation's row lock, stores it with the status change it
   * carries, and trims what retention no longer keeps — one statement, one round trip.
   * Returns undefined when the operation is not there or has already ended (nothing written).
   *
   * The trims see the table as it was before this statement, so the event just inserted is
   * never their victim; the byte trim runs only once an operation has published more than the
   * byte budget in its life (its one-time filter skips the scan otherwise).
   */
  async append(scope: ProjectScope, operationId: string, event: NewEvent, keep: Retention): Promise<OperationEvent | undefined> {
    const status = event.status;
    const { rows } = await sql<EventRow>`
      WITH op AS (
        UPDATE operations SET
          last_event_id = last_event_id + 1,
          event_bytes = event_bytes + ${event.bytes},
          status = coalesce(${status}, status),
          started_at = CASE WHEN ${status}::text IS NOT NULL THEN coalesce(started_at, now()) ELSE started_at END,
          completed_at = CASE WHEN ${status} IN ('completed', 'failed', 'cancelled') THEN now() ELSE completed_at END,
          error = CASE WHEN ${status} = 'failed' THEN ${event.error} ELSE error END
        WHERE project_id = ${scope.projectId} AND id = ${operationId}
          AND status NOT IN ('completed', 'failed', 'cancelled')
        RETURNING id, last_event_id, event_bytes
      ),
      inserted AS (
        INSERT INTO operation_events (operation_id, seq, project_id, type, data, status, bytes, end_offset)
        SELECT op.id, op.last_event_id, ${scope.projectId}, ${event.type}, ${event.dataJson}::json, ${status}, ${event.bytes}, op.event_bytes
        FROM op
        RETURNING seq, type, data, status, created_at
      ),
      trim_count AS (
        DELETE FROM operation_events
        WHERE operation_id = ${operationId} AND seq <= (SELECT last_event_id FROM op) - ${keep.events}
      ),
      trim_bytes AS (
        DELETE FROM operation_events
        WHERE operation_id = ${operationId}
          AND (SELECT event_bytes FROM op) > ${keep.bytes}
          AND end_offset - bytes < (SELECT event_bytes FROM op) - ${keep.bytes}
      )
      SELECT seq AS id, type, data, status, created_at AS created FROM inserted
    `.execute(this.db);
    const row = rows[0];
    return row ? toEvent(operationId, row) : undefined;
  }

  /** The oldest retained id and the newest ever published (ids never go backwards). */
  async bounds(scope: ProjectScope, operationId: string): Promise<HistoryBounds> {
    const row = await this.db
      .selectFrom('operations as o')
      .select((eb) => [
        'o.lastEventId',
        eb
          .selectFrom('operationEvents as e')
          .select((e) => e.fn.min('e.seq').as('oldest'))
          .whereRef('e.operationId', '=', 'o.id')
          .as('oldest'),
      ])
      .where('o.projectId', '=', scope.projectId)
      .where('o.id', '=', operationId)
      .executeTakeFirst();
    return { oldestId: row?.oldest ?? null, newestId: row?.lastEventId ?? 0 };
  }

  /** Up to `limit` retained events after `afterId`, in order. */
  async page(scope: ProjectScope, operationId: string, afterId: number, limit: number): Promise<OperationEvent[]> {
    const rows = await this.db
      .selectFrom('operationEvents')
      .select(['seq as id', 'type', 'data', 'status', 'createdAt as created'])
      .where('operationId', '=', operationId)
      .where('projectId', '=', scope.projectId)
      .where('seq', '>', afterId)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((row) => toEvent(operationId, row));
  }
}

function toEvent(operationId: string, row: EventRow): OperationEvent {
  return {
    id: row.id,
    operation_id: operationId,
    type: row.type,
    data: row.data,
    status: row.status,
    created_at: row.created.toISOString(),
  };
}

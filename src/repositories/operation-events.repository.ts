import { sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { OperationStatus } from '../db/types.js';
import type { HistoryBounds } from '../streaming/event-stream.js';
import type { OperationEvent, ReplayedEvent } from '../streaming/events.js';
import { ScopedRepository } from './scoped.repository.js';

export interface NewEvent {
  readonly type: string;
  /** `data` as JSON text, exactly as it will be replayed. */
  readonly dataJson: string;
  readonly bytes: number;
  readonly status: OperationStatus | null;
  /** The operation's `error` when this event fails it. */
  readonly error: string | null;
  /** The operation's new status when it differs from the event's (a retry returns it to `pending`). */
  readonly operationStatus?: OperationStatus | undefined;
  /** The worker's own number for the event: a number already stored appends nothing (docs/contract.md §8). */
  readonly clientSeq?: number | undefined;
  /** The worker writing through an operation token: its lease must be current (fencing); the event extends it. */
  readonly lease?: { readonly id: string; readonly worker: string } | undefined;
}

export interface Retention {
  /** Events kept per operation (SSE_REPLAY_EVENTS). */
  readonly events: number;
  /** Bytes of `data` kept per operation. */
  readonly bytes: number;
}

/**
 * Bytes of event data one history page may start: what one replaying stream holds at a time
 * (docs/adr/0016; 200 stalled replays of an 8 MiB history measured +186 MiB of server RSS
 * with 32 KiB pages, +278 MiB with 128 KiB).
 */
export const PAGE_BYTES = 32 * 1024;

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
    const clientSeq = event.clientSeq ?? null;
    const leaseId = event.lease?.id ?? null;
    const { rows } = await sql<EventRow>`
      WITH op AS (
        UPDATE operations SET
          last_event_id = last_event_id + 1,
          event_bytes = event_bytes + ${event.bytes},
          status = coalesce(${event.operationStatus ?? null}::text, ${status}::text, status),
          started_at = CASE WHEN ${status}::text IS NOT NULL THEN coalesce(started_at, now()) ELSE started_at END,
          completed_at = CASE WHEN ${status} IN ('completed', 'failed', 'cancelled') THEN now() ELSE completed_at END,
          error = CASE WHEN ${status} = 'failed' THEN ${event.error} ELSE error END,
          lease_expires_at = CASE WHEN ${leaseId}::uuid IS NOT NULL THEN now() + make_interval(secs => lease_seconds) ELSE lease_expires_at END
        WHERE project_id = ${scope.projectId} AND id = ${operationId}
          AND status NOT IN ('completed', 'failed', 'cancelled')
          AND (${leaseId}::uuid IS NULL OR (lease_id = ${leaseId}::uuid AND status = 'running' AND lease_expires_at > now()))
          AND (${clientSeq}::integer IS NULL OR NOT EXISTS (
            SELECT 1 FROM operation_events e WHERE e.operation_id = ${operationId} AND e.client_seq = ${clientSeq}::integer))
        RETURNING id, last_event_id, event_bytes
      ),
      inserted AS (
        INSERT INTO operation_events (operation_id, seq, project_id, type, data, status, bytes, end_offset, client_seq, worker)
        SELECT op.id, op.last_event_id, ${scope.projectId}, ${event.type}, ${event.dataJson}::json, ${status}, ${event.bytes}, op.event_bytes,
          ${clientSeq}::integer, ${event.lease?.worker ?? null}
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

  /** The stored event a worker published with this `seq`, if it is still retained. */
  async findByClientSeq(scope: ProjectScope, operationId: string, clientSeq: number): Promise<OperationEvent | undefined> {
    const row = await this.db
      .selectFrom('operationEvents')
      .select(['seq as id', 'type', 'data', 'status', 'createdAt as created'])
      .where('projectId', '=', scope.projectId)
      .where('operationId', '=', operationId)
      .where('clientSeq', '=', clientSeq)
      .executeTakeFirst();
    return row ? toEvent(operationId, row as EventRow) : undefined;
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

  /**
   * Retained events after `afterId`, in order: at most `limit`, and only those that start
   * within PAGE_BYTES of the first (always at least one), so a page of large events stays
   * small in the heap. `end_offset - bytes` is where an event starts in the operation's
   * running total of bytes.
   */
  async page(scope: ProjectScope, operationId: string, afterId: number, limit: number): Promise<ReplayedEvent[]> {
    const { rows } = await sql<ReplayedRow>`
      SELECT seq AS id, type, data::text AS json, status, created_at AS created
      FROM operation_events
      WHERE operation_id = ${operationId} AND project_id = ${scope.projectId} AND seq > ${afterId}
        AND end_offset - bytes < ${PAGE_BYTES} + (
          SELECT f.end_offset - f.bytes FROM operation_events f
          WHERE f.operation_id = ${operationId} AND f.seq > ${afterId} ORDER BY f.seq LIMIT 1
        )
      ORDER BY seq
      LIMIT ${limit}
    `.execute(this.db);
    return rows.map((row) => ({
      id: row.id,
      operation_id: operationId,
      type: row.type,
      dataJson: row.json,
      status: row.status,
      created_at: row.created.toISOString(),
    }));
  }
}

interface ReplayedRow extends Omit<EventRow, 'data'> {
  json: string;
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

import { sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { AuditLogTable } from '../db/types.js';
import { ScopedRepository } from './scoped.repository.js';

export interface AuditRow {
  readonly id: string;
  readonly at: Date;
  readonly actorUserId: string;
  readonly actorWorker: string | null;
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string;
  readonly correlationId: string | null;
  readonly changes: Record<string, unknown>;
}

export interface NewAuditRow {
  readonly projectId: string;
  readonly actorUserId: string;
  readonly actorWorker: string | null;
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string;
  readonly correlationId: string | null;
  readonly changes: Record<string, unknown>;
}

const COLUMNS = ['id', 'at', 'actorUserId', 'actorWorker', 'action', 'targetType', 'targetId', 'correlationId', 'changes'] as const;

/**
 * The audit log (docs/adr/0021-safe-writes.md). Append and read only: the table refuses UPDATE,
 * TRUNCATE and any DELETE but the retention sweep's (migration 0005).
 */
export class AuditRepository extends ScopedRepository {
  /** Appends one entry; call on the handle of the write's own transaction. */
  async append(row: NewAuditRow): Promise<void> {
    await this.db
      .insertInto('auditLog')
      .values({ ...row, changes: JSON.stringify(row.changes) } satisfies Partial<Record<keyof AuditLogTable, unknown>>)
      .execute();
  }

  /** Newest first; `before` is an entry id (UUID v7, so id order is time order). */
  list(scope: ProjectScope, before: string | undefined, limit: number): Promise<AuditRow[]> {
    let query = this.db.selectFrom('auditLog').select(COLUMNS).where('projectId', '=', scope.projectId);
    if (before !== undefined) query = query.where('id', '<', before);
    return query.orderBy('id', 'desc').limit(limit).execute();
  }

  /**
   * Deletes entries older than `days` (at least 1: the table's trigger refuses younger ones
   * whatever is asked). The flag is transaction-local: call inside a transaction.
   */
  async sweep(days: number): Promise<number> {
    await sql`select set_config('jeex.audit_sweep', 'on', true)`.execute(this.db);
    const result = await this.db
      .deleteFrom('auditLog')
      .where('at', '<', sql<Date>`now() - make_interval(days => ${Math.max(1, days)})`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

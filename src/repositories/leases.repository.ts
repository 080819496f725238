import { sql } from 'kysely';
import type { OperationCaller } from '../auth/caller.js';
import type { Operation, Project, ProjectRole } from '../db/types.js';
import type { Db } from './scoped.repository.js';

/** What the guard needs for an operation token, from one query (docs/adr/0020). */
export interface OperationGrantRow {
  readonly project: Project;
  /** The creator's current role in the project; null when no longer a member. */
  readonly creatorRole: ProjectRole | null;
  /** The token's lease is the operation's current one, the operation runs, the lease has not expired. */
  readonly current: boolean;
}

export interface LeasedOperation {
  readonly operation: Operation;
  readonly leaseId: string;
  readonly language: string;
}

export type HeartbeatResult =
  | { readonly kind: 'extended'; readonly expiresAt: Date; readonly cancelRequested: boolean }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'other-worker' }
  | { readonly kind: 'not-current' };

export interface ExpiredLease {
  readonly id: string;
  readonly projectId: string;
  readonly attempt: number;
  readonly cancelRequested: boolean;
}

/**
 * Leases of operations to workers (docs/contract.md §8, docs/adr/0020): the queue is the
 * `operations` table itself, taken with `FOR UPDATE SKIP LOCKED`; the current lease lives on the
 * operation row, every lease granted in `operation_leases`. Not project-scoped: workers serve
 * every project; what a lease then allows is held to its one project by the operation token.
 */
export class LeasesRepository {
  constructor(private readonly db: Db) {}

  /** The project, the creator's role and whether the token's lease is current: by primary keys. */
  async operationGrant(caller: OperationCaller): Promise<OperationGrantRow | undefined> {
    const row = await this.db
      .selectFrom('operations as o')
      .innerJoin('projects as p', 'p.id', 'o.projectId')
      .leftJoin('projectMembers as m', (join) => join.onRef('m.projectId', '=', 'o.projectId').on('m.userId', '=', caller.user.id))
      .selectAll('p')
      .select([
        'm.role as creatorRole',
        sql<boolean>`(o.status = 'running' AND o.lease_id = ${caller.leaseId} AND o.lease_expires_at > now())`.as('leaseCurrent'),
      ])
      .where('o.id', '=', caller.operationId)
      .where('o.projectId', '=', caller.projectId)
      .where('o.createdBy', '=', caller.user.id)
      .where('p.isDeleted', '=', false)
      .executeTakeFirst();
    if (!row) return undefined;
    const { creatorRole, leaseCurrent, ...project } = row;
    return { project, creatorRole: creatorRole ?? null, current: leaseCurrent };
  }

  /**
   * Takes the oldest pending operation of the given kinds (in a live project) and leases it to
   * the worker — one statement: rows another transaction holds are skipped, never waited for, so
   * any number of pollers on any number of instances each get a different operation. The caller
   * appends `operation.started` in the same transaction.
   */
  async take(worker: string, kinds: readonly string[], leaseSeconds: number): Promise<LeasedOperation | undefined> {
    const { rows } = await sql<Operation & { language: string }>`
      WITH next AS (
        SELECT o.id FROM operations o
        WHERE o.status = 'pending' AND o.kind = ANY(${kinds}::text[])
          AND EXISTS (SELECT 1 FROM projects p WHERE p.id = o.project_id AND NOT p.is_deleted)
        ORDER BY o.created_at, o.id
        LIMIT 1
        FOR UPDATE OF o SKIP LOCKED
      ),
      lease AS (
        INSERT INTO operation_leases (operation_id, project_id, worker, attempt)
        SELECT o.id, o.project_id, ${worker}, o.attempt + 1 FROM operations o JOIN next ON next.id = o.id
        RETURNING id, operation_id, attempt
      )
      UPDATE operations o SET
        lease_id = lease.id,
        attempt = lease.attempt,
        lease_seconds = ${leaseSeconds},
        lease_expires_at = now() + make_interval(secs => ${leaseSeconds}),
        cancel_requested = false,
        status = 'running',
        started_at = coalesce(o.started_at, now())
      FROM lease, projects p
      WHERE o.id = lease.operation_id AND p.id = o.project_id
      RETURNING o.*, p.language
    `.execute(this.db);
    const row = rows[0];
    if (!row) return undefined;
    const { language, ...operation } = row;
    return { operation, leaseId: operation.leaseId as string, language };
  }

  /**
   * Extends a current lease by its own length — one statement that also tells, when it cannot,
   * whether the lease is unknown, another worker's, or no longer current (expired, even if
   * nobody took the operation yet, or the operation ended).
   */
  async heartbeat(leaseId: string, worker: string): Promise<HeartbeatResult> {
    const { rows } = await sql<{ worker: string | null; expiresAt: Date | null; cancelRequested: boolean | null }>`
      WITH l AS (SELECT id, operation_id, worker FROM operation_leases WHERE id = ${leaseId}),
      extended AS (
        UPDATE operations o SET lease_expires_at = now() + make_interval(secs => o.lease_seconds)
        FROM l
        WHERE o.id = l.operation_id AND l.worker = ${worker} AND o.lease_id = l.id
          AND o.status = 'running' AND o.lease_expires_at > now()
        RETURNING o.lease_expires_at, o.cancel_requested
      )
      SELECT (SELECT worker FROM l) AS worker, e.lease_expires_at AS expires_at, e.cancel_requested
      FROM (SELECT 1) one LEFT JOIN extended e ON true
    `.execute(this.db);
    const row = rows[0];
    if (!row || row.worker === null) return { kind: 'unknown' };
    if (row.worker !== worker) return { kind: 'other-worker' };
    if (row.expiresAt === null) return { kind: 'not-current' };
    return { kind: 'extended', expiresAt: row.expiresAt, cancelRequested: row.cancelRequested === true };
  }

  /**
   * Running operations whose lease has expired, locked for this transaction; rows another
   * instance's sweep holds are skipped, and a row it has already handled no longer matches once
   * its lock is released (READ COMMITTED re-checks the condition on the newest row version). So
   * each expired lease is handled exactly once across instances.
   */
  lockExpired(limit: number): Promise<ExpiredLease[]> {
    return this.db
      .selectFrom('operations')
      .select(['id', 'projectId', 'attempt', 'cancelRequested'])
      .where('status', '=', 'running')
      .where('leaseId', 'is not', null)
      .where('leaseExpiresAt', '<', sql<Date>`now()`)
      .orderBy('leaseExpiresAt')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
  }

  /** Locks one operation of a project for a cancel; undefined when it is not there. */
  lockForCancel(projectId: string, operationId: string): Promise<Pick<Operation, 'status' | 'cancelRequested'> | undefined> {
    return this.db
      .selectFrom('operations')
      .select(['status', 'cancelRequested'])
      .where('projectId', '=', projectId)
      .where('id', '=', operationId)
      .forUpdate()
      .executeTakeFirst();
  }

  async requestCancel(projectId: string, operationId: string): Promise<void> {
    await this.db
      .updateTable('operations')
      .set({ cancelRequested: true })
      .where('projectId', '=', projectId)
      .where('id', '=', operationId)
      .execute();
  }
}

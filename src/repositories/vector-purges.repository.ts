import { sql } from 'kysely';
import type { VectorScope } from '../access/vector-scope.js';
import type { Db } from './scoped.repository.js';

export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
}

/** A time on the database's clock (the one every instance shares). */
const inMs = (ms: number) => sql<Date>`now() + make_interval(secs => ${ms}::float8 / 1000)`;

export interface DuePurge {
  readonly projectId: string;
  /** Attempts made so far, this claim included. */
  readonly attempts: number;
  /** The deleted project's scope, as it was when the deletion was committed. */
  readonly scope: VectorScope;
}

/**
 * The queue of vector deletions owed for deleted projects (migration 0003, issue 14 item 9):
 * written with the soft delete, removed once Qdrant confirms. Not project-scoped: it is read by
 * the background sweep across projects, and holds only what a VectorScope holds.
 */
export class VectorPurgesRepository {
  constructor(private readonly db: Db) {}

  /** In the deleting transaction. The first attempt is the deleting request's own, `graceMs` later the sweep's. */
  async enqueue(scope: VectorScope, graceMs: number): Promise<void> {
    await this.db
      .insertInto('vectorPurges')
      .values({ projectId: scope.projectId, language: scope.language, nextAttemptAt: inMs(graceMs) })
      .onConflict((oc) => oc.column('projectId').doNothing())
      .execute();
  }

  /**
   * Claims up to `limit` due rows (or every row with `all`): each one's next attempt is pushed to
   * its backoff before anyone calls Qdrant, so another instance's sweep skips it (SKIP LOCKED and
   * the new time), and a claim whose process died expires by itself.
   */
  async claimDue(opts: { limit: number; all?: boolean; backoff: Backoff }): Promise<DuePurge[]> {
    const due = this.db
      .selectFrom('vectorPurges')
      .select('projectId')
      .$if(opts.all !== true, (q) => q.where('nextAttemptAt', '<=', sql<Date>`now()`))
      .orderBy('nextAttemptAt')
      .limit(opts.limit)
      .forUpdate()
      .skipLocked();
    const { minMs, maxMs } = opts.backoff;
    const rows = await this.db
      .updateTable('vectorPurges')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        // min × 2^(attempts before this one), capped: 1 s, 2 s, 4 s … 60 s by default.
        nextAttemptAt: sql<Date>`now() + make_interval(secs => least(${minMs}::float8 * power(2, least(attempts, 30)), ${maxMs}::float8) / 1000)`,
      }))
      .where('projectId', 'in', due)
      .returning(['projectId', 'language', 'attempts'])
      .execute();
    return rows.map((r) => ({
      projectId: r.projectId,
      attempts: r.attempts,
      // Rebuilt from what the deletion stored from the guard-granted scope (vectorScopeOf).
      scope: Object.freeze({ projectId: r.projectId, language: r.language }) as VectorScope,
    }));
  }

  async complete(projectId: string): Promise<void> {
    await this.db.deleteFrom('vectorPurges').where('projectId', '=', projectId).execute();
  }

  async recordFailure(projectId: string, reason: string, retryInMs?: number): Promise<void> {
    await this.db
      .updateTable('vectorPurges')
      .set({
        lastError: reason.slice(0, 500),
        ...(retryInMs !== undefined ? { nextAttemptAt: inMs(retryInMs) } : {}),
      })
      .where('projectId', '=', projectId)
      .execute();
  }

  /** When the earliest remaining row is due (null when none is left). */
  async nextDueAt(): Promise<Date | null> {
    const row = await this.db
      .selectFrom('vectorPurges')
      .select((eb) => eb.fn.min('nextAttemptAt').as('at'))
      .executeTakeFirst();
    return row?.at ? new Date(row.at) : null;
  }
}

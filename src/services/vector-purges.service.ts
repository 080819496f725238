import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { VectorScope } from '../access/vector-scope.js';
import type { Database } from '../db/types.js';
import { throttledWarning } from '../lib/throttled-warning.js';
import type { Db } from '../repositories/scoped.repository.js';
import { type Backoff, VectorPurgesRepository } from '../repositories/vector-purges.repository.js';
import type { VectorsRepository } from '../repositories/vectors.repository.js';

export interface VectorPurgeOptions {
  readonly log: FastifyBaseLogger;
  /** Retry backoff of one deletion: first delay and cap (ms). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** With nothing due, the sweep still looks this often (rows another instance queued). */
  readonly idleSweepMs?: number;
  readonly batchSize?: number;
}

/**
 * Vectors of deleted projects (issue 7, issue 14 item 9). The soft delete decides: once it is
 * committed the vectors are unreachable (no scope can be granted for the project), so a Qdrant
 * outage defers their removal instead of failing the deletion. What is owed is a row in
 * `vector_purges`, written in the deleting transaction: it survives a restart, and any
 * instance's sweep — at start, then whenever the next row is due — retries it until Qdrant
 * confirms. Deleting by the scope's filter is idempotent, so a retry after a lost answer is safe.
 */
export class VectorPurgeService {
  private readonly log: FastifyBaseLogger;
  private readonly warn: ReturnType<typeof throttledWarning>;
  private readonly backoff: Backoff;
  private readonly idleSweepMs: number;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly vectors: Pick<VectorsRepository, 'purgeProject'>,
    opts: VectorPurgeOptions,
  ) {
    this.log = opts.log;
    this.warn = throttledWarning(opts.log);
    this.backoff = { minMs: opts.retryMinMs ?? 1_000, maxMs: opts.retryMaxMs ?? 60_000 };
    this.idleSweepMs = opts.idleSweepMs ?? 30_000;
    this.batchSize = opts.batchSize ?? 20;
  }

  /** In the transaction that soft-deletes the project: the deletion and the debt commit together. */
  enqueue(tx: Db, scope: VectorScope): Promise<void> {
    // The deleting request tries at once; the sweep's first turn comes one backoff step later.
    return new VectorPurgesRepository(tx).enqueue(scope, this.backoff.minMs);
  }

  /** After the commit: one attempt now, never failing the caller; the row stays until one succeeds. */
  async purgeNow(scope: VectorScope): Promise<void> {
    const purges = new VectorPurgesRepository(this.db);
    try {
      await this.vectors.purgeProject(scope);
    } catch (error) {
      const reason = reasonOf(error);
      this.log.warn({ project_id: scope.projectId, reason }, 'vector deletion of a deleted project deferred; retrying in the background');
      await purges.recordFailure(scope.projectId, reason).catch(() => undefined);
      this.wakeIn(this.backoff.minMs);
      return;
    }
    // Qdrant confirmed; if this delete fails the sweep deletes again later (idempotent).
    await purges.complete(scope.projectId).catch(() => this.wakeIn(this.backoff.minMs));
  }

  /** At start: everything still owed is tried once now (a previous process may have left it). */
  start(): void {
    this.runSweep(true);
  }

  /**
   * Stops the sweep. A Qdrant call in flight is waited for only briefly: shutdown has a 5 s budget,
   * and a purge cut short is still owed in the table (its claim expires, another turn repeats it).
   */
  async close(waitMs = 1_000): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.sweeping === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.sweeping,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private wakeIn(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runSweep(false), Math.max(0, ms));
    this.timer.unref();
  }

  private runSweep(all: boolean): void {
    if (this.closed || this.sweeping) return;
    this.sweeping = this.sweep(all).finally(() => {
      this.sweeping = undefined;
    });
  }

  private async sweep(all: boolean): Promise<void> {
    const purges = new VectorPurgesRepository(this.db);
    let next = this.idleSweepMs;
    try {
      const claimed = await purges.claimDue({ limit: this.batchSize, all, backoff: this.backoff });
      for (const purge of claimed) {
        if (this.closed) break;
        try {
          await this.vectors.purgeProject(purge.scope);
          // attempts counts the sweep's claims; the deleting request's own try came first.
          this.log.info({ project_id: purge.projectId, attempts: purge.attempts + 1 }, 'deferred vector deletion completed');
          await purges.complete(purge.projectId);
        } catch (error) {
          const reason = reasonOf(error);
          this.warn(
            `vector-purge-${purge.projectId}`,
            { project_id: purge.projectId, attempts: purge.attempts + 1, reason },
            'deferred vector deletion failed; retrying later',
          );
          await purges.recordFailure(purge.projectId, reason);
        }
      }
      if (claimed.length === this.batchSize) next = 0;
      else {
        const dueAt = await purges.nextDueAt();
        if (dueAt !== null) next = Math.min(next, dueAt.getTime() - Date.now());
      }
    } catch (error) {
      // The database itself is away: try again later, one warning a minute.
      this.warn('vector-purge-sweep', { reason: reasonOf(error) }, 'deferred vector deletions: sweep failed');
      next = this.backoff.minMs;
    }
    this.wakeIn(next);
  }
}

function reasonOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return error instanceof Error ? `${error.message}${cause}` : String(error);
}

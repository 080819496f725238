import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/types.js';

/** How long a key is kept (docs/contract.md §12: 24 h). */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;
/**
 * A claim still unanswered after this long belongs to a request that will never answer
 * (its process died): the next request with the key takes it over instead of a 409 for a day.
 * Well past the longest request: statement timeout (30 s default) plus retries.
 */
export const ABANDONED_CLAIM_SECONDS = 120;

/**
 * Makes the statement's own (implicit) transaction commit without waiting for the WAL flush:
 * a claim and a kept response then cost no fsync of their own (bench/RESULTS.md
 * `safe-writes`: with three synchronous commits per keyed POST instead of one, throughput
 * fell by about 40 %). Safe for the claim: the write that follows commits synchronously, and
 * flushing its commit record flushes the earlier claim too. A kept response lost in a database
 * crash leaves the claim unanswered, which is taken over after ABANDONED_CLAIM_SECONDS, the
 * same as a process that died before recording it (docs/adr/0021).
 */
const ASYNC_COMMIT = sql`(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

export interface IdempotencyRequest {
  readonly caller: string;
  readonly key: string;
  readonly method: string;
  readonly path: string;
  readonly fingerprint: string;
}

export interface StoredResponse {
  readonly statusCode: number;
  readonly contentType: string | null;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export type ClaimOutcome =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'mismatch' }
  | { readonly kind: 'in_flight' }
  | { readonly kind: 'completed'; readonly response: StoredResponse };

/** Idempotency keys (docs/adr/0021-safe-writes.md). Not project-scoped: a key belongs to a caller. */
export class IdempotencyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * The first request with a key wins by the primary key (INSERT … ON CONFLICT), never by a
   * read-then-write, so it holds across instances. An expired or abandoned row is taken over
   * in the same statement. A loser reads the winner's row; when that row vanished in between
   * (the winner failed and released it) the claim is tried again.
   */
  async claim(req: IdempotencyRequest): Promise<ClaimOutcome> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const { rows } = await sql<{ claimed: boolean }>`
        INSERT INTO idempotency_keys (caller, key, method, path, fingerprint)
        SELECT ${req.caller}, ${req.key}, ${req.method}, ${req.path}, ${req.fingerprint} FROM ${ASYNC_COMMIT}
        ON CONFLICT (caller, key) DO UPDATE SET
          method = EXCLUDED.method, path = EXCLUDED.path, fingerprint = EXCLUDED.fingerprint,
          status_code = NULL, content_type = NULL, headers = NULL, body = NULL, created_at = now(), completed_at = NULL
        WHERE idempotency_keys.created_at < now() - make_interval(hours => ${IDEMPOTENCY_KEY_TTL_HOURS})
           OR (idempotency_keys.completed_at IS NULL
               AND idempotency_keys.created_at < now() - make_interval(secs => ${ABANDONED_CLAIM_SECONDS}))
        RETURNING true AS claimed`.execute(this.db);
      if (rows.length > 0) return { kind: 'claimed' };
      const existing = await this.db
        .selectFrom('idempotencyKeys')
        .select(['method', 'path', 'fingerprint', 'statusCode', 'contentType', 'headers', 'body'])
        .where('caller', '=', req.caller)
        .where('key', '=', req.key)
        .executeTakeFirst();
      if (!existing) continue;
      if (existing.method !== req.method || existing.path !== req.path || existing.fingerprint !== req.fingerprint) {
        return { kind: 'mismatch' };
      }
      if (existing.statusCode === null || existing.body === null) return { kind: 'in_flight' };
      return {
        kind: 'completed',
        response: {
          statusCode: existing.statusCode,
          contentType: existing.contentType,
          headers: existing.headers ?? {},
          body: existing.body,
        },
      };
    }
    return { kind: 'in_flight' };
  }

  /** Keeps the response of a claimed key for replays. */
  async complete(caller: string, key: string, response: StoredResponse): Promise<void> {
    await sql`
      UPDATE idempotency_keys SET status_code = ${response.statusCode}, content_type = ${response.contentType},
        headers = ${JSON.stringify(response.headers)}::jsonb, body = ${response.body}, completed_at = now()
      FROM ${ASYNC_COMMIT}
      WHERE caller = ${caller} AND key = ${key}`.execute(this.db);
  }

  /** Gives a claimed key back (the request did not succeed): the next request with it runs afresh. */
  async release(caller: string, key: string): Promise<void> {
    await this.db
      .deleteFrom('idempotencyKeys')
      .where('caller', '=', caller)
      .where('key', '=', key)
      .where('completedAt', 'is', null)
      .execute();
  }

  /** Removes keys past their 24 h; returns how many. */
  async sweep(): Promise<number> {
    const result = await this.db
      .deleteFrom('idempotencyKeys')
      .where('createdAt', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_KEY_TTL_HOURS})`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

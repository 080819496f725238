import { type Kysely, sql } from 'kysely';

/*
 * Vector deletions still owed for deleted projects (issue 14 item 9). The row is written in the
 * transaction that soft-deletes the project, so a deletion can never be acknowledged and its
 * vectors forgotten; it goes when Qdrant confirms the deletion. `next_attempt_at` is both the
 * backoff and the claim: a sweeper moves it forward before it calls Qdrant, so two instances do
 * not work on the same row at once, and a row whose sweeper died becomes due again by itself.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE vector_purges (
      project_id uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
      language text NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT vector_purges_attempts CHECK (attempts >= 0)
    );
    CREATE INDEX vector_purges_due ON vector_purges (next_attempt_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS vector_purges;`.execute(db);
}

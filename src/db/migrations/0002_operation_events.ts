import { type Kysely, sql } from 'kysely';

/*
 * The durable event log (docs/adr/0016): PostgreSQL is the source of truth for operation
 * events. `operations.last_event_id` is the per-operation sequence (gap-free, never reset),
 * bumped under the row lock in the same statement that inserts the event, so an event and
 * the status change it carries commit together or not at all. `event_bytes` counts every
 * byte of `data` ever published; each event keeps the running total after it (`end_offset`),
 * so "the newest 8 MiB" is arithmetic and trimming needs no second counter.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE operations
      ADD COLUMN last_event_id integer NOT NULL DEFAULT 0,
      ADD COLUMN event_bytes bigint NOT NULL DEFAULT 0;

    CREATE TABLE operation_events (
      operation_id uuid NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      project_id uuid NOT NULL,
      type text NOT NULL,
      data json NOT NULL,
      status text,
      bytes integer NOT NULL,
      end_offset bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (operation_id, seq),
      CONSTRAINT operation_events_seq_check CHECK (seq >= 1),
      CONSTRAINT operation_events_status_check CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
      CONSTRAINT operation_events_bytes_check CHECK (bytes BETWEEN 0 AND 65536)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE IF EXISTS operation_events;
    ALTER TABLE operations DROP COLUMN IF EXISTS last_event_id, DROP COLUMN IF EXISTS event_bytes;
  `.execute(db);
}

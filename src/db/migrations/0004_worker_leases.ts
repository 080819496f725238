import { type Kysely, sql } from 'kysely';

/*
 * Agent workers (docs/contract.md §8, docs/adr/0020-worker-leases.md). The current lease lives on
 * the operation row, so leasing, heartbeats, fencing and the expiry sweep are single-row
 * updates under that row's lock; `operation_leases` keeps every lease ever granted so a
 * heartbeat can tell an unknown lease (404) from another worker's (403) and an ended one (409).
 * `client_seq` is the worker's own event number (idempotent publishing); `worker` names the
 * worker that wrote an event through an operation token.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE operations
      ADD COLUMN attempt integer NOT NULL DEFAULT 0,
      ADD COLUMN lease_id uuid,
      ADD COLUMN lease_seconds integer,
      ADD COLUMN lease_expires_at timestamptz,
      ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
      ADD CONSTRAINT operations_attempt_check CHECK (attempt >= 0),
      ADD CONSTRAINT operations_lease_seconds_check CHECK (lease_seconds BETWEEN 1 AND 3600);

    CREATE TABLE operation_leases (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      operation_id uuid NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
      project_id uuid NOT NULL,
      worker text NOT NULL,
      attempt integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT operation_leases_worker_length CHECK (length(worker) BETWEEN 1 AND 100)
    );
    CREATE INDEX operation_leases_operation_idx ON operation_leases (operation_id);

    -- The queue: the oldest pending operation of some kinds; the sweep: running leases by expiry.
    CREATE INDEX operations_pending_idx ON operations (kind, created_at, id) WHERE status = 'pending';
    CREATE INDEX operations_lease_expiry_idx ON operations (lease_expires_at) WHERE status = 'running' AND lease_id IS NOT NULL;

    ALTER TABLE operation_events
      ADD COLUMN client_seq integer,
      ADD COLUMN worker text,
      ADD CONSTRAINT operation_events_client_seq_check CHECK (client_seq >= 1);
    CREATE UNIQUE INDEX operation_events_client_seq_key ON operation_events (operation_id, client_seq) WHERE client_seq IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX IF EXISTS operation_events_client_seq_key;
    ALTER TABLE operation_events DROP COLUMN IF EXISTS client_seq, DROP COLUMN IF EXISTS worker;
    DROP INDEX IF EXISTS operations_lease_expiry_idx;
    DROP INDEX IF EXISTS operations_pending_idx;
    DROP TABLE IF EXISTS operation_leases;
    ALTER TABLE operations
      DROP COLUMN IF EXISTS attempt,
      DROP COLUMN IF EXISTS lease_id,
      DROP COLUMN IF EXISTS lease_seconds,
      DROP COLUMN IF EXISTS lease_expires_at,
      DROP COLUMN IF EXISTS cancel_requested;
  `.execute(db);
}

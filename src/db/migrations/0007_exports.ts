import { type Kysely, sql } from 'kysely';

/*
 * Exports (docs/contract.md §11, docs/adr/0023-export-archives.md). An export is the record of one
 * `export` operation; its archive's bytes live in PostgreSQL as ordered chunks (every instance
 * reads what any instance built, and the bytes go with the database's backups). Chunks are keyed
 * by the attempt that wrote them, so a builder that lost its lease and a retry never mix their
 * bytes; the one that completes removes the others'. `data` is stored EXTERNAL: a ZIP is already
 * compressed, TOAST compression would only cost CPU.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE exports (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      operation_id uuid NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
      created_by uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
      status text NOT NULL DEFAULT 'pending',
      file_name text,
      bytes bigint,
      sha256 text,
      attempt integer,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      expires_at timestamptz NOT NULL,
      CONSTRAINT exports_status_check CHECK (status IN ('pending', 'ready', 'expired')),
      CONSTRAINT exports_operation_key UNIQUE (operation_id),
      CONSTRAINT exports_ready_check CHECK (status <> 'ready' OR (bytes IS NOT NULL AND sha256 IS NOT NULL AND file_name IS NOT NULL))
    );
    CREATE INDEX exports_project_idx ON exports (project_id, created_at DESC);
    -- The TTL sweep: exports whose bytes are still kept, by expiry.
    CREATE INDEX exports_expiry_idx ON exports (expires_at) WHERE status <> 'expired';

    CREATE TABLE export_chunks (
      export_id uuid NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      seq integer NOT NULL,
      data bytea NOT NULL,
      PRIMARY KEY (export_id, attempt, seq)
    );
    ALTER TABLE export_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE IF EXISTS export_chunks;
    DROP TABLE IF EXISTS exports;
  `.execute(db);
}

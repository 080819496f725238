import { type Kysely, sql } from 'kysely';

/*
 * Safe writes (issue 18, docs/contract.md §12, docs/adr/0021-safe-writes.md):
 *
 * - `projects.row_version`: bumped by a trigger on every UPDATE, so a project's ETag changes
 *   with each write, however close together (timestamps can tie), and a conditional UPDATE
 *   `… WHERE row_version = $etag` loses to a concurrent one instead of overwriting it.
 * - `idempotency_keys`: one row per (caller, key). The primary key decides which of several
 *   concurrent requests runs (INSERT … ON CONFLICT), across any number of instances.
 * - `audit_log`: append-only. A trigger raises on UPDATE and TRUNCATE whatever role runs them,
 *   and on DELETE unless the retention sweep runs it (`jeex.audit_sweep` set for its
 *   transaction) on a row older than one day, the floor no setting can lower. No foreign keys:
 *   entries outlive what they describe.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE projects ADD COLUMN row_version bigint NOT NULL DEFAULT 1;

    CREATE FUNCTION bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.row_version := OLD.row_version + 1;
      RETURN NEW;
    END $$;

    CREATE TRIGGER projects_row_version BEFORE UPDATE ON projects
      FOR EACH ROW EXECUTE FUNCTION bump_row_version();

    CREATE TABLE idempotency_keys (
      caller text NOT NULL,
      key text NOT NULL,
      method text NOT NULL,
      path text NOT NULL,
      fingerprint text NOT NULL,
      status_code smallint,
      content_type text,
      headers jsonb,
      body text,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      PRIMARY KEY (caller, key),
      CONSTRAINT idempotency_keys_key_check CHECK (key ~ '^[\\x21-\\x7e]{1,255}$'),
      CONSTRAINT idempotency_keys_completed_check CHECK ((status_code IS NULL) = (completed_at IS NULL))
    );
    CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

    CREATE TABLE audit_log (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      project_id uuid NOT NULL,
      actor_user_id uuid NOT NULL,
      actor_worker text,
      action text NOT NULL,
      target_type text NOT NULL,
      target_id text NOT NULL,
      correlation_id text,
      changes jsonb NOT NULL DEFAULT '{}'::jsonb,
      CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z_]+\\.[a-z_]+$')
    );
    CREATE INDEX audit_log_project_idx ON audit_log (project_id, id DESC);
    CREATE INDEX audit_log_at_idx ON audit_log (at);

    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE'
         AND current_setting('jeex.audit_sweep', true) = 'on'
         AND OLD.at < now() - interval '1 day' THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;

    CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE IF EXISTS audit_log;
    DROP FUNCTION IF EXISTS audit_log_append_only();
    DROP TABLE IF EXISTS idempotency_keys;
    DROP TRIGGER IF EXISTS projects_row_version ON projects;
    DROP FUNCTION IF EXISTS bump_row_version();
    ALTER TABLE projects DROP COLUMN IF EXISTS row_version;
  `.execute(db);
}

import { type Kysely, sql } from 'kysely';

/*
 * The original design's schema with what this service needs (issue 3). UUID v7 keys from
 * PostgreSQL 18's uuidv7(); created_at/updated_at kept by the database; a CHECK for every
 * enumerated column; indexes lead with project_id because every query is project-scoped.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := now();
      RETURN NEW;
    END $$;

    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      email text NOT NULL,
      name text NOT NULL,
      profile_data jsonb NOT NULL DEFAULT '{}'::jsonb,
      last_login_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT users_email_format CHECK (email ~ '^[^@\\s]+@[^@\\s]+$' AND length(email) <= 320),
      CONSTRAINT users_name_length CHECK (length(name) BETWEEN 1 AND 200)
    );
    CREATE UNIQUE INDEX users_email_key ON users (lower(email));

    CREATE TABLE projects (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      name text NOT NULL,
      status text NOT NULL DEFAULT 'draft',
      current_step smallint NOT NULL DEFAULT 1,
      language text NOT NULL DEFAULT 'en',
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_by uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz,
      is_deleted boolean NOT NULL DEFAULT false,
      CONSTRAINT projects_status_check CHECK (status IN ('draft', 'active', 'completed', 'archived')),
      CONSTRAINT projects_current_step_check CHECK (current_step BETWEEN 1 AND 4),
      CONSTRAINT projects_language_check CHECK (language ~ '^[a-z]{2}$'),
      CONSTRAINT projects_name_length CHECK (length(name) BETWEEN 1 AND 200),
      CONSTRAINT projects_soft_delete_check CHECK (is_deleted = (deleted_at IS NOT NULL))
    );
    CREATE INDEX projects_created_by_idx ON projects (created_by);

    CREATE TABLE project_members (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      role text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT project_members_role_check CHECK (role IN ('owner', 'editor', 'viewer')),
      CONSTRAINT project_members_project_user_key UNIQUE (project_id, user_id)
    );
    CREATE INDEX project_members_user_idx ON project_members (user_id, project_id);

    CREATE TABLE document_versions (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      document_type text NOT NULL,
      version integer NOT NULL,
      content text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      readability_score real,
      grammar_score real,
      created_by uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz,
      is_deleted boolean NOT NULL DEFAULT false,
      CONSTRAINT document_versions_type_check CHECK (document_type IN ('about', 'specs', 'architecture', 'plan')),
      CONSTRAINT document_versions_version_check CHECK (version >= 1),
      CONSTRAINT document_versions_soft_delete_check CHECK (is_deleted = (deleted_at IS NOT NULL)),
      CONSTRAINT document_versions_project_type_version_key UNIQUE (project_id, document_type, version)
    );

    CREATE TABLE operations (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      kind text NOT NULL,
      status text NOT NULL DEFAULT 'pending',
      input jsonb NOT NULL DEFAULT '{}'::jsonb,
      output jsonb,
      error text,
      created_by uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
      started_at timestamptz,
      completed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT operations_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
      CONSTRAINT operations_kind_length CHECK (length(kind) BETWEEN 1 AND 100)
    );
    CREATE INDEX operations_project_created_idx ON operations (project_id, created_at DESC);

    CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
    CREATE TRIGGER projects_updated_at BEFORE UPDATE ON projects FOR EACH ROW EXECUTE FUNCTION set_updated_at();
    CREATE TRIGGER project_members_updated_at BEFORE UPDATE ON project_members FOR EACH ROW EXECUTE FUNCTION set_updated_at();
    CREATE TRIGGER document_versions_updated_at BEFORE UPDATE ON document_versions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
    CREATE TRIGGER operations_updated_at BEFORE UPDATE ON operations FOR EACH ROW EXECUTE FUNCTION set_updated_at();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE IF EXISTS operations;
    DROP TABLE IF EXISTS document_versions;
    DROP TABLE IF EXISTS project_members;
    DROP TABLE IF EXISTS projects;
    DROP TABLE IF EXISTS users;
    DROP FUNCTION IF EXISTS set_updated_at();
  `.execute(db);
}

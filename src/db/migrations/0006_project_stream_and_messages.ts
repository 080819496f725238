import { type Kysely, sql } from 'kysely';

/*
 * The project stream and the conversation (docs/contract.md §9, §10; docs/adr/0022).
 *
 * `project_events` is a per-project, gap-free sequence kept by PostgreSQL. Every row is written
 * by `append_project_event`, called from triggers on the tables whose changes the stream
 * carries, so an event commits in the same transaction as its change whatever code path made
 * it (a route, the lease sweeper, the export worker): nothing to forget in a service. The
 * sequence is a counter in `project_streams` bumped under its row lock, so ids are gap-free
 * (a rolled-back change rolls its number back) and commit in id order. After COMMIT,
 * PostgreSQL delivers `NOTIFY project_events '<project_id>'` to every API instance
 * (src/streaming/project-feed.ts), which reads the new rows: fan-out after commit, by
 * construction. Retention: the newest `jeex.project_replay_events` events (the app sets it
 * from SSE_REPLAY_EVENTS on each connection; 1000 otherwise) and at most 8 MiB of data, as
 * for an operation (docs/adr/0016).
 *
 * `messages` holds the conversation: `seq` is the project's message order (another counter in
 * `project_streams`); `content` is the applied deltas joined in order, `last_delta_seq` the
 * last applied one, so "apply delta n" is one conditional UPDATE.
 */

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE project_streams (
      project_id uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
      last_event_id integer NOT NULL DEFAULT 0,
      event_bytes bigint NOT NULL DEFAULT 0,
      last_message_seq integer NOT NULL DEFAULT 0
    );

    CREATE TABLE project_events (
      project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      type text NOT NULL,
      data json NOT NULL,
      bytes integer NOT NULL,
      end_offset bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (project_id, seq),
      CONSTRAINT project_events_seq_check CHECK (seq >= 1)
    );

    CREATE FUNCTION append_project_event(p_project uuid, p_type text, p_data json) RETURNS integer
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_bytes integer := octet_length(p_data::text);
      v_keep integer := coalesce(nullif(current_setting('jeex.project_replay_events', true), '')::integer, 1000);
      v_keep_bytes bigint := 8388608;
      v_seq integer;
      v_total bigint;
    BEGIN
      INSERT INTO project_streams AS s (project_id, last_event_id, event_bytes) VALUES (p_project, 1, v_bytes)
      ON CONFLICT (project_id) DO UPDATE SET last_event_id = s.last_event_id + 1, event_bytes = s.event_bytes + v_bytes
      RETURNING s.last_event_id, s.event_bytes INTO v_seq, v_total;
      INSERT INTO project_events (project_id, seq, type, data, bytes, end_offset)
      VALUES (p_project, v_seq, p_type, p_data, v_bytes, v_total);
      DELETE FROM project_events WHERE project_id = p_project AND seq <= v_seq - v_keep;
      IF v_total > v_keep_bytes THEN
        DELETE FROM project_events
        WHERE project_id = p_project AND seq < v_seq AND end_offset - bytes < v_total - v_keep_bytes;
      END IF;
      PERFORM pg_notify('project_events', p_project::text);
      RETURN v_seq;
    END
    $fn$;

    CREATE FUNCTION project_event_from_operation_event() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      PERFORM append_project_event(NEW.project_id, NEW.type, json_build_object(
        'operation_id', NEW.operation_id, 'operation_event_id', NEW.seq, 'status', NEW.status, 'data', NEW.data));
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER operation_events_to_project AFTER INSERT ON operation_events
      FOR EACH ROW EXECUTE FUNCTION project_event_from_operation_event();

    CREATE FUNCTION project_event_operation_created() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      PERFORM append_project_event(NEW.project_id, 'operation.created', json_build_object(
        'operation_id', NEW.id, 'kind', NEW.kind, 'status', NEW.status, 'created_by', NEW.created_by));
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER operations_to_project AFTER INSERT ON operations
      FOR EACH ROW EXECUTE FUNCTION project_event_operation_created();

    CREATE FUNCTION project_event_document_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      PERFORM append_project_event(NEW.project_id, 'document.version_created', json_build_object(
        'document_type', NEW.document_type, 'version', NEW.version));
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER document_versions_to_project AFTER INSERT ON document_versions
      FOR EACH ROW EXECUTE FUNCTION project_event_document_version();

    -- A cascade from a deleted project row finds no project: nothing to stream.
    CREATE FUNCTION project_event_member() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      v_row project_members := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    BEGIN
      IF EXISTS (SELECT 1 FROM projects WHERE id = v_row.project_id) THEN
        PERFORM append_project_event(v_row.project_id, 'member.changed', json_build_object(
          'user_id', v_row.user_id, 'role', CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.role END));
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER project_members_to_project AFTER INSERT OR DELETE OR UPDATE OF role ON project_members
      FOR EACH ROW EXECUTE FUNCTION project_event_member();

    CREATE FUNCTION project_event_project_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      PERFORM append_project_event(NEW.id, 'project.updated', json_build_object(
        'name', NEW.name, 'status', NEW.status, 'current_step', NEW.current_step, 'updated_at', NEW.updated_at));
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER projects_to_project AFTER UPDATE ON projects
      FOR EACH ROW WHEN (NOT NEW.is_deleted
        AND (OLD.name, OLD.status, OLD.current_step) IS DISTINCT FROM (NEW.name, NEW.status, NEW.current_step))
      EXECUTE FUNCTION project_event_project_updated();

    CREATE TABLE messages (
      id uuid PRIMARY KEY DEFAULT uuidv7(),
      project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      role text NOT NULL,
      author_user_id uuid NOT NULL REFERENCES users (id),
      author_agent text,
      content text NOT NULL DEFAULT '',
      status text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}',
      reply_to uuid REFERENCES messages (id),
      -- Deferred: a user message and the agent.reply operation it starts are written together.
      operation_id uuid REFERENCES operations (id) DEFERRABLE INITIALLY DEFERRED,
      last_delta_seq integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      CONSTRAINT messages_project_seq_key UNIQUE (project_id, seq),
      CONSTRAINT messages_role_check CHECK (role IN ('user', 'assistant')),
      CONSTRAINT messages_status_check CHECK (status IN ('complete', 'streaming', 'failed')),
      CONSTRAINT messages_agent_check CHECK ((role = 'assistant') = (author_agent IS NOT NULL)),
      CONSTRAINT messages_content_length CHECK (length(content) <= 1000000)
    );
    CREATE INDEX messages_reply_to_idx ON messages (reply_to) WHERE reply_to IS NOT NULL;
    CREATE INDEX messages_operation_idx ON messages (operation_id) WHERE operation_id IS NOT NULL;

    CREATE FUNCTION message_public(m messages) RETURNS json LANGUAGE sql STABLE AS $fn$
      SELECT json_build_object(
        'id', m.id, 'seq', m.seq, 'role', m.role,
        'author', json_build_object('user_id', m.author_user_id, 'agent', m.author_agent),
        'content', m.content, 'last_delta_seq', m.last_delta_seq, 'status', m.status, 'metadata', m.metadata, 'reply_to', m.reply_to,
        'operation_id', m.operation_id,
        'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'completed_at', to_char(m.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    $fn$;

    CREATE FUNCTION message_seq() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO project_streams AS s (project_id, last_message_seq) VALUES (NEW.project_id, 1)
      ON CONFLICT (project_id) DO UPDATE SET last_message_seq = s.last_message_seq + 1
      RETURNING s.last_message_seq INTO NEW.seq;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER messages_seq BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION message_seq();

    CREATE FUNCTION project_event_message() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        PERFORM append_project_event(NEW.project_id, 'message.created', message_public(NEW));
        RETURN NULL;
      END IF;
      IF NEW.last_delta_seq <> OLD.last_delta_seq THEN
        PERFORM append_project_event(NEW.project_id, 'message.delta', json_build_object(
          'message_id', NEW.id, 'seq', NEW.last_delta_seq, 'text', substr(NEW.content, length(OLD.content) + 1)));
      END IF;
      IF NEW.status <> OLD.status THEN
        PERFORM append_project_event(NEW.project_id, 'message.completed', json_build_object(
          'message_id', NEW.id, 'status', NEW.status, 'last_delta_seq', NEW.last_delta_seq,
          'length', length(NEW.content),
          'completed_at', to_char(NEW.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
      END IF;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER messages_to_project AFTER INSERT OR UPDATE ON messages
      FOR EACH ROW EXECUTE FUNCTION project_event_message();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER IF EXISTS messages_to_project ON messages;
    DROP TRIGGER IF EXISTS messages_seq ON messages;
    DROP FUNCTION IF EXISTS project_event_message();
    DROP FUNCTION IF EXISTS message_seq();
    DROP FUNCTION IF EXISTS message_public(messages);
    DROP TABLE IF EXISTS messages;
    DROP TRIGGER IF EXISTS projects_to_project ON projects;
    DROP FUNCTION IF EXISTS project_event_project_updated();
    DROP TRIGGER IF EXISTS project_members_to_project ON project_members;
    DROP FUNCTION IF EXISTS project_event_member();
    DROP TRIGGER IF EXISTS document_versions_to_project ON document_versions;
    DROP FUNCTION IF EXISTS project_event_document_version();
    DROP TRIGGER IF EXISTS operations_to_project ON operations;
    DROP FUNCTION IF EXISTS project_event_operation_created();
    DROP TRIGGER IF EXISTS operation_events_to_project ON operation_events;
    DROP FUNCTION IF EXISTS project_event_from_operation_event();
    DROP FUNCTION IF EXISTS append_project_event(uuid, text, json);
    DROP TABLE IF EXISTS project_events;
    DROP TABLE IF EXISTS project_streams;
  `.execute(db);
}

import type { Kysely } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database } from '../db/types.js';
import { currentContext } from '../lib/request-context.js';
import { AuditRepository, type AuditRow } from '../repositories/audit.repository.js';
import type { Db } from '../repositories/scoped.repository.js';

/**
 * Who wrote: the user, and the worker when an agent wrote with an operation token on the
 * user's behalf (docs/contract.md §8; `worker` is null for a user's own token).
 */
export interface Actor {
  readonly userId: string;
  readonly worker: string | null;
}

/** What a write records (docs/contract.md §12). `action` is `<entity>.<verb>`, e.g. `project.update`. */
export interface AuditEntry {
  readonly projectId: string;
  readonly actor: Actor;
  readonly action: `${string}.${string}`;
  readonly target: { readonly type: string; readonly id: string };
  /** The changed fields and their new values; never a payload (document content, message text). */
  readonly changes?: Record<string, unknown>;
}

/** The actor of the current request: this user, and the worker the auth step put in the request context. */
export function actorOf(scope: Pick<ProjectScope, 'userId'>): Actor {
  return { userId: scope.userId, worker: currentContext()?.worker ?? null };
}

/**
 * The audit log's one API (docs/adr/0021-safe-writes.md): `record(tx, entry)` inside the
 * transaction of the write it describes, so an entry exists exactly when the write committed.
 * The correlation id comes from the request context.
 */
export class AuditLog {
  private readonly entries: AuditRepository;

  constructor(private readonly db: Kysely<Database>) {
    this.entries = new AuditRepository(db);
  }

  record(tx: Db, entry: AuditEntry): Promise<void> {
    return new AuditRepository(tx).append({
      projectId: entry.projectId,
      actorUserId: entry.actor.userId,
      actorWorker: entry.actor.worker,
      action: entry.action,
      targetType: entry.target.type,
      targetId: entry.target.id,
      correlationId: currentContext()?.correlation_id ?? null,
      changes: entry.changes ?? {},
    });
  }

  /** A page, newest first, and the cursor of the next one (null at the end). */
  async list(scope: ProjectScope, before: string | undefined, limit: number): Promise<{ items: AuditRow[]; nextBefore: string | null }> {
    const rows = await this.entries.list(scope, before, limit + 1);
    const items = rows.slice(0, limit);
    return { items, nextBefore: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
  }

  /** Removes entries past the retention (AUDIT_RETENTION_DAYS); returns how many. */
  sweep(retentionDays: number): Promise<number> {
    return this.db.transaction().execute((tx) => new AuditRepository(tx).sweep(retentionDays));
  }
}

import { sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Message, MessageRole, MessageStatus } from '../db/types.js';
import { ScopedRepository } from './scoped.repository.js';

export interface NewMessage {
  readonly id?: string;
  readonly projectId: string;
  readonly role: MessageRole;
  readonly authorUserId: string;
  readonly authorAgent: string | null;
  readonly content: string;
  readonly status: MessageStatus;
  readonly metadata: Record<string, unknown>;
  readonly replyTo: string | null;
  readonly operationId: string | null;
}

/** The conversation (docs/contract.md §10). Its project events are written by triggers (migration 0006). */
export class MessagesRepository extends ScopedRepository {
  async create(scope: ProjectScope, values: NewMessage): Promise<Message> {
    this.assertInScope(scope, values.projectId);
    const completed = values.status === 'streaming' ? null : sql<Date>`now()`;
    return this.db
      .insertInto('messages')
      .values({ ...values, completedAt: completed })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  get(scope: ProjectScope, messageId: string): Promise<Message | undefined> {
    return this.db
      .selectFrom('messages')
      .selectAll()
      .where('projectId', '=', scope.projectId)
      .where('id', '=', messageId)
      .executeTakeFirst();
  }

  /** Newest first, `seq` < `before` when given; one more than `limit` tells whether a page follows. */
  page(scope: ProjectScope, before: number | undefined, limit: number): Promise<Message[]> {
    let query = this.db.selectFrom('messages').selectAll().where('projectId', '=', scope.projectId);
    if (before !== undefined) query = query.where('seq', '<', before);
    return query
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
  }

  /**
   * Applies delta `seq` when it is the next one of a streaming message: one conditional UPDATE,
   * so concurrent or repeated deliveries of a delta apply it once. Undefined when not applied.
   */
  appendDelta(scope: ProjectScope, messageId: string, seq: number, text: string): Promise<Message | undefined> {
    return this.db
      .updateTable('messages')
      .set((eb) => ({ content: sql<string>`${eb.ref('content')} || ${text}`, lastDeltaSeq: seq }))
      .where('projectId', '=', scope.projectId)
      .where('id', '=', messageId)
      .where('status', '=', 'streaming')
      .where('lastDeltaSeq', '=', seq - 1)
      .returningAll()
      .executeTakeFirst();
  }

  /** Ends a streaming message; undefined when it had already ended. */
  finish(scope: ProjectScope, messageId: string, status: Exclude<MessageStatus, 'streaming'>): Promise<Message | undefined> {
    return this.db
      .updateTable('messages')
      .set({ status, completedAt: sql<Date>`now()` })
      .where('projectId', '=', scope.projectId)
      .where('id', '=', messageId)
      .where('status', '=', 'streaming')
      .returningAll()
      .executeTakeFirst();
  }
}

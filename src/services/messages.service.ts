import { type Kysely, sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database, Message } from '../db/types.js';
import { ConflictError, ForbiddenError, NotFoundError, PayloadTooLargeError, ValidationError } from '../lib/errors.js';
import { MessagesRepository } from '../repositories/messages.repository.js';
import { OperationsRepository } from '../repositories/operations.repository.js';
import { type AuditLog, actorOf } from './audit.service.js';

/** The operation kind a user message starts when it asks for a reply (docs/contract.md §10). */
export const AGENT_REPLY_KIND = 'agent.reply';

export interface UserMessageInput {
  readonly content: string;
  readonly metadata?: Record<string, unknown> | undefined;
  readonly reply?: boolean | undefined;
}

export interface AssistantMessageInput {
  readonly replyTo: string;
  readonly metadata?: Record<string, unknown> | undefined;
}

export interface DeltaOutcome {
  readonly message: Message;
  /** False when this `seq` had already been applied (a retry): nothing appended. */
  readonly applied: boolean;
}

/** PostgreSQL's check_violation: `messages_content_length` (migration 0006). */
const CHECK_VIOLATION = '23514';

/**
 * The conversation (docs/contract.md §10). Project events (`message.created`, `.delta`,
 * `.completed`, `operation.created`) are written by the database in the same transaction as
 * each change (docs/adr/0022), so nothing here publishes.
 */
export class MessagesService {
  private readonly messages: MessagesRepository;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
  ) {
    this.messages = new MessagesRepository(db);
  }

  /** A user's message; with `reply` (the default) the `agent.reply` operation that answers it, in the same transaction. */
  async createUserMessage(scope: ProjectScope, input: UserMessageInput): Promise<{ message: Message; operationId: string | null }> {
    if (scope.actor) throw new ForbiddenError('An operation token writes assistant messages only');
    const reply = input.reply ?? true;
    return this.db.transaction().execute(async (tx) => {
      const ids = await sql<{ message: string; operation: string }>`SELECT uuidv7() AS message, uuidv7() AS operation`.execute(tx);
      const { message: messageId, operation: operationId } = ids.rows[0] as { message: string; operation: string };
      const message = await new MessagesRepository(tx).create(scope, {
        id: messageId,
        projectId: scope.projectId,
        role: 'user',
        authorUserId: scope.userId,
        authorAgent: null,
        content: input.content,
        status: 'complete',
        metadata: input.metadata ?? {},
        replyTo: null,
        operationId: reply ? operationId : null,
      });
      if (reply) {
        await new OperationsRepository(tx).create(scope, {
          id: operationId,
          projectId: scope.projectId,
          kind: AGENT_REPLY_KIND,
          input: { message_id: message.id },
          createdBy: scope.userId,
        });
      }
      // Contract §12: a user message is audited in its transaction (its text is not: a payload).
      await this.audit.record(tx, {
        projectId: scope.projectId,
        actor: actorOf(scope),
        action: 'message.create',
        target: { type: 'message', id: message.id },
        changes: { seq: message.seq, reply, operation_id: reply ? operationId : null, content_chars: message.content.length },
      });
      return { message, operationId: reply ? operationId : null };
    });
  }

  /** An agent's reply, opened empty and streaming; only an operation token writes one (§10). */
  async createAssistantMessage(scope: ProjectScope, input: AssistantMessageInput): Promise<Message> {
    const actor = scope.actor;
    if (!actor) throw new ForbiddenError('Only an operation token may write an assistant message');
    if (!(await this.messages.get(scope, input.replyTo))) {
      throw new ValidationError('reply_to is not a message of this project', [{ path: '/reply_to', message: 'unknown message' }]);
    }
    return this.messages.create(scope, {
      projectId: scope.projectId,
      role: 'assistant',
      authorUserId: scope.userId,
      authorAgent: actor.worker,
      content: '',
      status: 'streaming',
      metadata: input.metadata ?? {},
      replyTo: input.replyTo,
      operationId: actor.operationId,
    });
  }

  async get(scope: ProjectScope, messageId: string): Promise<Message> {
    const message = await this.messages.get(scope, messageId);
    if (!message) throw new NotFoundError(`Message ${messageId} not found`);
    return message;
  }

  async list(scope: ProjectScope, before: number | undefined, limit: number): Promise<{ items: Message[]; nextBefore: number | null }> {
    const rows = await this.messages.page(scope, before, limit);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextBefore: rows.length > limit && last ? last.seq : null };
  }

  /** Delta `seq` of a streaming reply: applied once; a repeat changes nothing; a gap → 409. */
  async appendDelta(scope: ProjectScope, messageId: string, seq: number, text: string): Promise<DeltaOutcome> {
    await this.ownMessage(scope, messageId);
    let applied: Message | undefined;
    try {
      applied = await this.messages.appendDelta(scope, messageId, seq, text);
    } catch (error) {
      if ((error as { code?: unknown }).code === CHECK_VIOLATION)
        throw new PayloadTooLargeError('The message would exceed 1,000,000 characters');
      throw error;
    }
    if (applied) return { message: applied, applied: true };
    const current = await this.get(scope, messageId);
    if (seq <= current.lastDeltaSeq) return { message: current, applied: false };
    if (current.status !== 'streaming') throw new ConflictError(`Message ${messageId} has already ended (${current.status})`);
    throw new ConflictError(`Delta ${seq} skips ahead: the last applied is ${current.lastDeltaSeq}`);
  }

  /** Ends a reply; ending it again the same way is a no-op, another way a 409. */
  async finish(scope: ProjectScope, messageId: string, status: 'complete' | 'failed'): Promise<Message> {
    await this.ownMessage(scope, messageId);
    const ended = await this.messages.finish(scope, messageId, status);
    if (ended) return ended;
    const current = await this.get(scope, messageId);
    if (current.status === status) return current;
    throw new ConflictError(`Message ${messageId} has already ended (${current.status})`);
  }

  /** Deltas and completion come only from the operation token that wrote the message (§10). */
  private async ownMessage(scope: ProjectScope, messageId: string): Promise<Message> {
    const actor = scope.actor;
    if (!actor) throw new ForbiddenError('Only the operation token that wrote this message may change it');
    const message = await this.get(scope, messageId);
    if (message.role !== 'assistant' || message.operationId !== actor.operationId) {
      throw new ForbiddenError('Only the operation token that wrote this message may change it');
    }
    return message;
  }
}

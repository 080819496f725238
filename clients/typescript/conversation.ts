import type { operations } from './generated/api.js';
import { followProjectEvents } from './project-events.js';
import { authHeaders, type StreamConnectionOptions } from './resumable-stream.js';

/*
 * A project's conversation kept in memory from its project stream (docs/contract.md §9, §10):
 * read the project (its `last_event_id`), then the newest messages, then follow the stream from
 * that id. Every change made after the id was read comes on the stream; deltas carry their `seq`
 * and a message carries `last_delta_seq` (the deltas its `content` holds), so a delta is applied
 * only when it is the next one: after a reload in the middle of a reply, nothing is missing and
 * nothing is doubled. A gap (a delta whose predecessor was not seen) reads the message again.
 */

type JsonBody<R> = R extends { content: { 'application/json': infer B } } ? B : never;
export type Message = JsonBody<operations['getMessage']['responses'][200]>;
type MessagePage = JsonBody<operations['listMessages']['responses'][200]>;

export interface ConversationOptions extends StreamConnectionOptions {
  readonly projectId: string;
  /** Newest messages read at the start (1–100, default 50). */
  readonly pageSize?: number;
  /** Called after every change (a message added, text appended, a reply ended). */
  readonly onChange?: (conversation: Conversation) => void;
}

export class Conversation {
  private readonly byId = new Map<string, Message>();
  private lastId = 0;
  private following: Promise<void> = Promise.resolve();
  private readonly controller = new AbortController();

  private constructor(private readonly options: ConversationOptions) {}

  /** Resolves when following stops (closed, revoked); rejects when the stream gave up. */
  get done(): Promise<void> {
    return this.following;
  }

  /** The messages held, in the project's message order. */
  get messages(): Message[] {
    return [...this.byId.values()].sort((a, b) => a.seq - b.seq);
  }

  get(messageId: string): Message | undefined {
    return this.byId.get(messageId);
  }

  /** The project stream id the conversation is up to (where a reload would resume). */
  get lastEventId(): number {
    return this.lastId;
  }

  close(): void {
    this.controller.abort();
  }

  static async open(options: ConversationOptions): Promise<Conversation> {
    const conversation = new Conversation(options);
    const base = `${options.baseUrl.replace(/\/+$/, '')}/api/v1/projects/${encodeURIComponent(options.projectId)}`;
    // The id first, then the state: whatever changes after the id was read comes on the stream.
    const project = await conversation.read<{ last_event_id: number }>(base);
    const page = await conversation.read<MessagePage>(`${base}/messages?limit=${options.pageSize ?? 50}`);
    for (const message of page.items) conversation.byId.set(message.id, message);
    conversation.lastId = project.last_event_id;
    conversation.following = conversation.follow(base);
    return conversation;
  }

  private async read<T>(url: string): Promise<T> {
    const doFetch = this.options.fetch ?? globalThis.fetch;
    const response = await doFetch(url, {
      headers: await authHeaders(this.options.token, { accept: 'application/json' }),
      signal: this.controller.signal,
    });
    if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
    return (await response.json()) as T;
  }

  private async follow(base: string): Promise<void> {
    const signal = this.controller.signal;
    const outer = this.options.signal;
    outer?.addEventListener('abort', () => this.controller.abort(), { once: true });
    for await (const message of followProjectEvents({ ...this.options, signal, lastEventId: this.lastId })) {
      if (message.kind === 'revoked') return;
      if (message.kind === 'reset') {
        // Events were lost: read the newest messages again.
        const page = await this.read<MessagePage>(`${base}/messages?limit=${this.options.pageSize ?? 50}`);
        for (const m of page.items) this.byId.set(m.id, m);
        this.options.onChange?.(this);
        continue;
      }
      this.lastId = message.id;
      if (await this.apply(base, message.type, message.data)) this.options.onChange?.(this);
    }
  }

  /** Applies one event; true when the conversation changed. */
  private async apply(base: string, type: string, data: Record<string, unknown>): Promise<boolean> {
    if (type === 'message.created') {
      const message = data as unknown as Message;
      if (this.byId.has(message.id)) return false;
      this.byId.set(message.id, message);
      return true;
    }
    if (type === 'message.delta') {
      const id = String(data.message_id);
      const seq = Number(data.seq);
      const held = this.byId.get(id);
      if (held && seq <= held.last_delta_seq) return false;
      if (held && seq === held.last_delta_seq + 1) {
        this.byId.set(id, { ...held, content: held.content + String(data.text), last_delta_seq: seq });
        return true;
      }
      return this.reread(base, id);
    }
    if (type === 'message.completed') {
      const id = String(data.message_id);
      const held = this.byId.get(id);
      if (!held || held.last_delta_seq < Number(data.last_delta_seq)) return this.reread(base, id);
      this.byId.set(id, { ...held, status: data.status as Message['status'], completed_at: (data.completed_at as string | null) ?? null });
      return true;
    }
    return false;
  }

  private async reread(base: string, messageId: string): Promise<boolean> {
    const fresh = await this.read<Message>(`${base}/messages/${encodeURIComponent(messageId)}`);
    const held = this.byId.get(messageId);
    if (held && held.last_delta_seq > fresh.last_delta_seq) return false;
    this.byId.set(messageId, fresh);
    return true;
  }
}

/** Reads a project's conversation and keeps it current from the project stream until `close()`. */
export function openConversation(options: ConversationOptions): Promise<Conversation> {
  return Conversation.open(options);
}

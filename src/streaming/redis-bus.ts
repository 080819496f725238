import type { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../lib/errors.js';
import type { EventBus, EventInput, History, Listener, OperationEvent, OperationKey } from './events.js';

/*
 * One operation's keys share a hash tag so a Redis Cluster keeps them in one slot:
 *   jeex:op:{<project>:<operation>}:seq     INCR counter → event ids 1, 2, 3, …
 *   jeex:op:{<project>:<operation>}:events  stream with entry ids 0-<seq>, capped
 *   jeex:op:{<project>:<operation>}         pub/sub channel "<seq>\n<payload>"
 */
const tag = (key: OperationKey) => `jeex:op:{${key.projectId}:${key.operationId}}`;

/** Number, append, trim, expire and fan out in one atomic round trip. */
const PUBLISH_SCRIPT = `
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '0-' .. seq, 'e', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], seq .. '\\n' .. ARGV[1])
return seq
`;

type StoredPayload = Omit<OperationEvent, 'id'>;

type RedisWithPublish = Redis & {
  jeexPublish(seqKey: string, streamKey: string, channel: string, payload: string, maxLen: number, ttl: number): Promise<number>;
};

function unavailable(error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError('redis', 'The event bus is unavailable', { cause: error });
}

/** Events through Redis: history in a capped stream per operation, live fan-out by pub/sub. */
export class RedisEventBus implements EventBus {
  readonly mode = 'redis' as const;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly ready = new Map<string, Promise<void>>();
  private readonly disconnectHandlers: Array<() => void> = [];
  private readonly commands: RedisWithPublish;

  constructor(
    commands: Redis,
    private readonly subscriber: Redis,
    private readonly retain: number,
    private readonly ttlSeconds = 24 * 60 * 60,
  ) {
    commands.defineCommand('jeexPublish', { numberOfKeys: 3, lua: PUBLISH_SCRIPT });
    this.commands = commands as RedisWithPublish;
    subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    // A lost subscriber connection may have dropped messages: end the open streams so their
    // clients reconnect and resume from their last id instead of silently missing events.
    subscriber.on('close', () => {
      for (const handler of this.disconnectHandlers) handler();
    });
  }

  private dispatch(channel: string, message: string): void {
    const listeners = this.listeners.get(channel);
    if (!listeners || listeners.size === 0) return;
    const newline = message.indexOf('\n');
    const event: OperationEvent = { id: Number(message.slice(0, newline)), ...(JSON.parse(message.slice(newline + 1)) as StoredPayload) };
    for (const listener of listeners) listener(event);
  }

  async publish(key: OperationKey, input: EventInput): Promise<OperationEvent> {
    const payload: StoredPayload = { ...input, operation_id: key.operationId, created_at: new Date().toISOString() };
    const base = tag(key);
    try {
      const seq = await this.commands.jeexPublish(
        `${base}:seq`,
        `${base}:events`,
        base,
        JSON.stringify(payload),
        this.retain,
        this.ttlSeconds,
      );
      return { id: Number(seq), ...payload };
    } catch (error) {
      throw unavailable(error);
    }
  }

  async history(key: OperationKey, afterId: number): Promise<History> {
    const stream = `${tag(key)}:events`;
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await this.commands.pipeline().xrange(stream, '-', '+', 'COUNT', 1).xrange(stream, `(0-${afterId}`, '+').exec();
    } catch (error) {
      throw unavailable(error);
    }
    const failed = results?.find(([err]) => err !== null);
    if (!results || failed) throw unavailable(failed?.[0]);
    const toEvent = ([id, fields]: [string, string[]]): OperationEvent => ({
      id: Number(id.split('-')[1]),
      ...(JSON.parse(fields[1] ?? '{}') as StoredPayload),
    });
    type Entries = Array<[string, string[]]>;
    const oldest = ((results[0]?.[1] ?? []) as Entries)[0];
    const oldestId = oldest ? Number(oldest[0].split('-')[1]) : undefined;
    const events = ((results[1]?.[1] ?? []) as Entries).map(toEvent);
    return { events, reset: oldestId !== undefined && afterId + 1 < oldestId ? { oldest_id: String(oldestId) } : null };
  }

  async subscribe(key: OperationKey, listener: Listener): Promise<() => void> {
    if (this.subscriber.status !== 'ready') throw unavailable(new Error(`subscriber connection is ${this.subscriber.status}`));
    const channel = tag(key);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      // Later subscribers of the same channel wait for the same acknowledgement.
      this.ready.set(
        channel,
        this.subscriber.subscribe(channel).then(() => undefined),
      );
    }
    set.add(listener);
    try {
      await this.ready.get(channel);
    } catch (error) {
      this.release(channel, listener);
      throw unavailable(error);
    }
    return () => this.release(channel, listener);
  }

  private release(channel: string, listener: Listener): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) {
      this.listeners.delete(channel);
      this.ready.delete(channel);
      this.subscriber.unsubscribe(channel).catch(() => undefined);
    }
  }

  subscriberCount(key: OperationKey): number {
    return this.listeners.get(tag(key))?.size ?? 0;
  }

  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.push(handler);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

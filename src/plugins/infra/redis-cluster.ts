import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClusterTarget } from '../../config.js';
import type { PubSubTransport } from '../../streaming/redis-bus.js';

/** Connection states in which a connection is open or being opened (ioredis `status`). */
const OPEN_STATES = new Set(['connecting', 'connect', 'ready', 'reconnecting']);

const SLOTS = 16_384;

/** CRC16-XMODEM, the hash Redis Cluster uses for key slots. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of a key or sharded channel, honouring a `{hash tag}` as Redis does. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed)) % SLOTS;
}

/**
 * A Redis Cluster client for commands (docs/adr/0027). Like the single-node client it fails fast:
 * no offline queue, so a command while the cluster (or the shard it needs) is away fails within
 * about two seconds and the request answers 503 instead of hanging. Reads go to masters (the bus
 * and the limiter need the newest state). Sharded subscriptions are this module's own
 * (`ShardedSubscriptions`), not ioredis's `shardedSubscribers`: measured with ioredis 6.0.0, that
 * group re-created the subscriber of a dead master in a tight loop (~160 times a second) until it
 * returned, and subscriptions on the healthy shards stopped receiving meanwhile.
 */
export function createCluster(target: RedisClusterTarget, nodeOptions: RedisOptions): Cluster {
  return new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      enableOfflineQueue: false,
      scaleReads: 'master',
      // During a failover commands meet a closed connection or CLUSTERDOWN: short retries ride out
      // the switch to the promoted replica, bounded by maxRedirections (about 1.6 s in all).
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      maxRedirections: 8,
      slotsRefreshTimeout: 1_000,
      slotsRefreshInterval: 2_000,
      clusterRetryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000),
      redisOptions: nodeOptions,
    },
  );
}

/** Options of a cluster node connection: the credentials and TLS of the target, fail-fast timeouts. */
export function clusterNodeOptions(target: RedisClusterTarget, base: RedisOptions): RedisOptions {
  return {
    ...base,
    username: target.username,
    password: target.password,
    ...(target.tls ? { tls: {} } : {}),
  };
}

/**
 * SSUBSCRIBE on a cluster: one subscriber connection per master that owns a subscribed channel,
 * made on first use and kept while that master lives, so at most one per master whatever the
 * number of streams. A subscriber that loses its connection is not reconnected: its channels are
 * forgotten and the bus ends the open streams (they resume from PostgreSQL with Last-Event-ID);
 * their next subscription goes to whichever master owns the slot by then (after a failover, the
 * promoted replica).
 */
export class ShardedSubscriptions {
  private readonly byNode = new Map<string, { readonly redis: Redis; readonly channels: Set<string> }>();
  private readonly nodeOf = new Map<string, string>();
  private readonly messageHandlers: Array<(channel: string, message: string) => void> = [];
  private readonly lostHandlers: Array<() => void> = [];

  constructor(
    private readonly cluster: Cluster,
    private readonly options: RedisOptions,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Subscriber connections open (for the health component). */
  get connections(): number {
    return this.byNode.size;
  }

  onMessage(handler: (channel: string, message: string) => void): void {
    this.messageHandlers.push(handler);
  }

  onLost(handler: () => void): void {
    this.lostHandlers.push(handler);
  }

  async subscribe(channel: string): Promise<void> {
    const owner = this.cluster.slots[keySlot(channel)]?.[0];
    if (owner === undefined) throw new Error('no master owns the channel slot yet');
    const subscriber = this.subscriberFor(owner);
    subscriber.channels.add(channel);
    this.nodeOf.set(channel, owner);
    try {
      await subscriber.redis.ssubscribe(channel);
    } catch (error) {
      // The owner we knew is gone or moved: learn the new one now rather than at the next
      // periodic refresh, so the client's retry reaches the promoted replica (docs/adr/0027).
      this.cluster.refreshSlotsCache();
      throw error;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const owner = this.nodeOf.get(channel);
    this.nodeOf.delete(channel);
    const subscriber = owner === undefined ? undefined : this.byNode.get(owner);
    if (!subscriber) return;
    subscriber.channels.delete(channel);
    await subscriber.redis.sunsubscribe(channel);
  }

  private subscriberFor(nodeKey: string): { readonly redis: Redis; readonly channels: Set<string> } {
    const existing = this.byNode.get(nodeKey);
    if (existing) return existing;
    const separator = nodeKey.lastIndexOf(':');
    const redis = new Redis({
      ...this.options,
      host: nodeKey.slice(0, separator),
      port: Number(nodeKey.slice(separator + 1)),
      // SSUBSCRIBE waits for the connection; a connection that fails is not retried (see above).
      enableOfflineQueue: true,
      commandTimeout: undefined,
      retryStrategy: () => null,
    });
    const entry = { redis, channels: new Set<string>() };
    this.byNode.set(nodeKey, entry);
    redis.on('smessage', (channel: string, message: string) => {
      for (const handler of this.messageHandlers) handler(channel, message);
    });
    redis.on('error', this.onError);
    redis.once('end', () => {
      if (this.byNode.get(nodeKey) !== entry) return;
      this.byNode.delete(nodeKey);
      for (const channel of entry.channels) if (this.nodeOf.get(channel) === nodeKey) this.nodeOf.delete(channel);
      if (entry.channels.size > 0) for (const handler of this.lostHandlers) handler();
    });
    return entry;
  }

  close(): void {
    for (const { redis } of this.byNode.values()) {
      redis.removeAllListeners('end');
      redis.disconnect();
    }
    this.byNode.clear();
    this.nodeOf.clear();
  }
}

/**
 * The sharded channel of a bus channel. Bus channels are `kind:<project id>[:…]` (an operation's,
 * a project's and a member's access channels) or `kind:name`; the second segment becomes the hash
 * tag, so every channel of one project lives on one shard: a stream (which follows its operation
 * and its access channels) depends on one master, and projects spread over all of them.
 */
export function shardedChannel(channel: string): string {
  const [kind, key, ...rest] = channel.split(':');
  return key === undefined ? `jeex:${channel}` : ['jeex', kind, `{${key}}`, ...rest].join(':');
}

/**
 * The bus on a cluster: SPUBLISH through the command client (routed to the master of the
 * channel's slot), SSUBSCRIBE through `ShardedSubscriptions`. A message travels only within the
 * shard that owns its channel; one channel per operation or project spreads them over the shards.
 */
export function clusterTransport(cluster: Cluster, subscriptions: ShardedSubscriptions): PubSubTransport {
  return {
    channelName: shardedChannel,
    publish: (channel, payload) => cluster.spublish(channel, payload),
    subscribe: (channel) => subscriptions.subscribe(channel),
    unsubscribe: (channel) => subscriptions.unsubscribe(channel),
    get canPublish() {
      return cluster.status === 'ready';
    },
    get subscribeBlocker() {
      return cluster.status === 'ready' ? null : `cluster connection is ${cluster.status}`;
    },
    onMessage: (handler) => subscriptions.onMessage(handler),
    onSubscriptionLost: (handler) => subscriptions.onLost(handler),
  };
}

/** Command connections open to the cluster's nodes (one per node this process talked to). */
export function clusterCommandConnections(cluster: Cluster): number {
  return cluster.nodes('all').filter((n) => OPEN_STATES.has(n.status)).length;
}

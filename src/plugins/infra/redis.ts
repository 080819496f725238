import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { type Cluster, Redis } from 'ioredis';
import type { Config, RedisClusterTarget } from '../../config.js';
import { throttledWarning } from '../../lib/throttled-warning.js';
import type { EventBus } from '../../streaming/events.js';
import { InProcessEventBus } from '../../streaming/in-process-bus.js';
import { type PubSubTransport, RedisEventBus, singleNodeTransport } from '../../streaming/redis-bus.js';
import { clusterCommandConnections, clusterNodeOptions, clusterTransport, createCluster, ShardedSubscriptions } from './redis-cluster.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The command client, shared by every feature; null without REDIS_URL. On a cluster it is
     * ioredis's `Cluster` (docs/adr/0027): every feature keeps each command to one hash slot.
     */
    redis: Redis | Cluster | null;
    eventBus: EventBus;
  }
}

const CONNECTION_NAME = 'jeex-api';

/** What the plugin needs of either deployment: one Redis or a cluster. */
interface RedisDeployment {
  readonly commands: Redis | Cluster;
  readonly transport: PubSubTransport;
  /** Clients whose `error` and `ready` events are logged, by role. */
  readonly clients: ReadonlyArray<readonly [string, Redis | Cluster]>;
  /** Health: throws when Redis does not answer; else the details of the `redis` component. */
  readonly check: () => Promise<Record<string, unknown>>;
  /** The state of the subscriptions' connection(s), `ready` when streams can open. */
  readonly subscriberStatus: () => string;
  readonly disconnect: () => void;
}

const failFast = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000),
  connectionName: CONNECTION_NAME,
};

/** One Redis: exactly two connections, one for commands and one subscriber shared by every stream. */
function singleNode(url: string, config: Config): RedisDeployment {
  const commands = new Redis(url, failFast);
  // The subscriber queues SUBSCRIBE while connecting, so streams opened during start-up work.
  const subscriber = new Redis(url, { ...failFast, enableOfflineQueue: true, commandTimeout: undefined });
  return {
    commands,
    transport: singleNodeTransport(commands, subscriber),
    clients: [
      ['commands', commands],
      ['subscriber', subscriber],
    ],
    check: async () => {
      await commands.ping();
      return { mode: 'single', connections: 2, max_connections: config.redisMaxConnections };
    },
    subscriberStatus: () => subscriber.status,
    disconnect: () => {
      commands.disconnect();
      subscriber.disconnect();
    },
  };
}

/**
 * A cluster (docs/adr/0027): one command connection per node it talks to and one sharded
 * subscriber per master that owns a subscribed channel, so at most two per master whatever the
 * number of SSE clients; REDIS_MAX_CONNECTIONS bounds them per node. Healthy only when every
 * master answers: a shard that is down fails the requests that need it.
 */
function cluster(target: RedisClusterTarget, config: Config, onSubscriberError: (error: Error) => void): RedisDeployment {
  const nodeOptions = clusterNodeOptions(target, failFast);
  const client = createCluster(target, nodeOptions);
  const subscriptions = new ShardedSubscriptions(client, nodeOptions, onSubscriberError);
  return {
    commands: client,
    transport: clusterTransport(client, subscriptions),
    clients: [['cluster', client]],
    check: async () => {
      const masters = client.nodes('master');
      if (client.status !== 'ready' || masters.length === 0) throw new Error(`cluster connection is ${client.status}`);
      await Promise.all(masters.map((node) => node.ping()));
      const commandConnections = clusterCommandConnections(client);
      return {
        mode: 'cluster',
        masters: masters.length,
        connections: commandConnections + subscriptions.connections,
        command_connections: commandConnections,
        subscriber_connections: subscriptions.connections,
        max_connections_per_node: config.redisMaxConnections,
      };
    },
    subscriberStatus: () => client.status,
    disconnect: () => {
      subscriptions.close();
      client.disconnect();
    },
  };
}

/**
 * Redis (issue 5, REQ-004.2; cluster: docs/adr/0027): a fixed number of connections per process
 * whatever the number of SSE clients. Commands fail at once while disconnected (no offline queue),
 * so requests answer 503 instead of hanging; connections reconnect by themselves. Without
 * REDIS_URL (development, test), an in-process bus with the same interface serves a single
 * instance. The `redis` health component shows the connections and their bound.
 */
const redisPlugin: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  if (config.redisUrl === undefined) {
    const bus = new InProcessEventBus();
    app.decorate('redis', null);
    app.decorate('eventBus', bus);
    app.addHook('onClose', () => bus.close());
    return;
  }

  const warn = throttledWarning(app.log);
  const subscriberError = (error: Error) =>
    warn('redis-sharded-subscriber', { role: 'sharded-subscriber', reason: error.message }, 'redis connection problem');
  const redis = config.redisCluster ? cluster(config.redisCluster, config, subscriberError) : singleNode(config.redisUrl, config);
  for (const [role, client] of redis.clients) {
    client.on('error', (error: Error) => warn(`redis-${role}`, { role, reason: error.message }, 'redis connection problem'));
    client.on('ready', () => app.log.info({ role }, 'redis connected'));
  }

  // Give Redis a moment at start-up, but never refuse to start without it (REL-001).
  const connected = (client: Redis | Cluster) => new Promise<void>((resolve) => client.once('ready', () => resolve()));
  await Promise.race([Promise.all(redis.clients.map(([, client]) => connected(client))), sleep(1_000)]);

  const bus = new RedisEventBus(redis.transport, {
    onPublishFailure: (error) =>
      warn('redis-fanout', { reason: error instanceof Error ? error.message : String(error) }, 'event fan-out deferred: redis refused it'),
  });
  app.decorate<Redis | Cluster | null>('redis', redis.commands);
  app.decorate('eventBus', bus);

  app.health.register({
    name: 'redis',
    required: true,
    run: async () => {
      const started = performance.now();
      const details = await redis.check();
      return { status: 'healthy', details: { ...details, ping_ms: Math.round((performance.now() - started) * 100) / 100 } };
    },
  });
  app.health.register({
    name: 'event_bus',
    required: false,
    run: async () => {
      const state = redis.subscriberStatus();
      return {
        status: state === 'ready' ? 'healthy' : 'unhealthy',
        details: { mode: 'redis', subscriber: state, unsent: bus.unsentCount },
        ...(state === 'ready' ? {} : { error: `subscriber ${state}` }),
      };
    },
  });

  app.addHook('onClose', async () => {
    await bus.close();
    redis.disconnect();
  });
};

export default fp(redisPlugin, { name: 'redis', fastify: '5.x', dependencies: ['health'] });

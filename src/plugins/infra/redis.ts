import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { throttledWarning } from '../../lib/throttled-warning.js';
import type { EventBus } from '../../streaming/events.js';
import { InProcessEventBus } from '../../streaming/in-process-bus.js';
import { RedisEventBus } from '../../streaming/redis-bus.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The command connection, shared by every feature; null without REDIS_URL. */
    redis: Redis | null;
    eventBus: EventBus;
  }
}

/**
 * Redis (issue 5, REQ-004.2): exactly two connections per process whatever the number of
 * SSE clients — one for commands, one subscriber shared by every stream. Commands fail at
 * once while disconnected (no offline queue), so requests answer 503 instead of hanging;
 * both connections reconnect by themselves. Without REDIS_URL (development, test), an
 * in-process bus with the same interface serves a single instance.
 * REDIS_MAX_CONNECTIONS (at least 2, by config) is the contract's bound on them; two is always
 * within it, and the `redis` health component shows both numbers.
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
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000),
    connectionName: 'jeex-api',
  };
  const commands = new Redis(config.redisUrl, options);
  // The subscriber queues SUBSCRIBE while connecting, so streams opened during start-up work.
  const subscriber = new Redis(config.redisUrl, { ...options, enableOfflineQueue: true, commandTimeout: undefined });
  for (const [role, client] of [
    ['commands', commands],
    ['subscriber', subscriber],
  ] as const) {
    client.on('error', (error: Error) => warn(`redis-${role}`, { role, reason: error.message }, 'redis connection problem'));
    client.on('ready', () => app.log.info({ role }, 'redis connected'));
  }

  // Give Redis a moment at start-up, but never refuse to start without it (REL-001).
  const connected = (client: Redis) => new Promise<void>((resolve) => client.once('ready', () => resolve()));
  await Promise.race([Promise.all([connected(commands), connected(subscriber)]), sleep(1_000)]);

  const bus = new RedisEventBus(commands, subscriber, {
    onPublishFailure: (error) =>
      warn('redis-fanout', { reason: error instanceof Error ? error.message : String(error) }, 'event fan-out deferred: redis refused it'),
  });
  app.decorate('redis', commands);
  app.decorate('eventBus', bus);

  app.health.register({
    name: 'redis',
    required: true,
    run: async () => {
      const started = performance.now();
      await commands.ping();
      return {
        status: 'healthy',
        details: {
          connections: 2,
          max_connections: config.redisMaxConnections,
          ping_ms: Math.round((performance.now() - started) * 100) / 100,
        },
      };
    },
  });
  app.health.register({
    name: 'event_bus',
    required: false,
    run: async () => ({
      status: subscriber.status === 'ready' ? 'healthy' : 'unhealthy',
      details: { mode: 'redis', subscriber: subscriber.status, unsent: bus.unsentCount },
      ...(subscriber.status === 'ready' ? {} : { error: `subscriber ${subscriber.status}` }),
    }),
  });

  app.addHook('onClose', async () => {
    await bus.close();
    commands.disconnect();
    subscriber.disconnect();
  });
};

export default fp(redisPlugin, { name: 'redis', fastify: '5.x', dependencies: ['health'] });

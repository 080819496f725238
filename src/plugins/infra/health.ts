import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { HealthRegistry } from './health-registry.js';

declare module 'fastify' {
  interface FastifyInstance {
    health: HealthRegistry;
  }
}

/**
 * The registry every infrastructure plugin adds its check to. Components whose plugin does
 * not exist yet, or whose dependency is not configured, are reported as `disabled` here;
 * registering a check with the same name replaces the placeholder.
 */
const health: FastifyPluginCallback<{ config: Config }> = (app, { config }, done) => {
  const registry = new HealthRegistry(config.healthCheckTimeoutMs);
  registry.register({
    name: 'redis',
    required: false,
    run: async () => ({ status: 'disabled', details: { reason: 'REDIS_URL not set' } }),
  });
  registry.register({ name: 'event_bus', required: false, run: async () => ({ status: 'healthy', details: { mode: 'in-process' } }) });
  registry.register({
    name: 'qdrant',
    required: false,
    run: async () => ({ status: 'disabled', details: { reason: 'QDRANT_URL not set' } }),
  });
  registry.register({
    name: 'telemetry',
    required: false,
    run: async () => ({ status: 'disabled', details: { reason: 'no OTLP endpoint' } }),
  });
  app.decorate('health', registry);
  done();
};

export default fp(health, { name: 'health', fastify: '5.x' });

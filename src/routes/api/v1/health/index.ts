import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HealthResponse, LiveResponse, ReadyResponse } from './schemas.js';

export interface HealthRoutesOptions {
  readonly version: string;
}

/** REQ-005. Never authenticated, never rate limited. */
const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, opts) => {
  const startedAt = performance.now();

  app.get(
    '/health/live',
    {
      config: { public: true, rateLimit: false },
      schema: { tags: ['health'], operationId: 'getLiveness', summary: 'Liveness: the process is up', response: { 200: LiveResponse } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      config: { public: true, rateLimit: false },
      schema: {
        tags: ['health'],
        operationId: 'getReadiness',
        summary: 'Readiness: every configured dependency answers',
        response: { 200: ReadyResponse, 503: ReadyResponse },
      },
    },
    async (_request, reply) => {
      const components = await app.health.runAll();
      const ready = app.health.isReady(components);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'healthy' : 'unhealthy', components });
    },
  );

  app.get(
    '/health',
    {
      config: { public: true, rateLimit: false },
      schema: {
        tags: ['health'],
        operationId: 'getHealth',
        summary: 'Detailed health of every component',
        response: { 200: HealthResponse, 503: HealthResponse },
      },
    },
    async (_request, reply) => {
      const components = await app.health.runAll();
      const ready = app.health.isReady(components);
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'healthy' : 'unhealthy',
        version: opts.version,
        uptime_s: Math.round((performance.now() - startedAt) / 10) / 100,
        components,
      });
    },
  );
};

export default healthRoutes;

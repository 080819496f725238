import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { ExportWorker } from '../../services/export-worker.js';

/**
 * Every instance runs the service's own export worker and the export TTL sweep
 * (docs/adr/0023). Both start once the app is ready and stop before it closes its pools; nothing
 * here adds a route.
 */
const exportWorker: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const { exports, leases } = app.services;
  const worker = new ExportWorker(leases, exports, { leaseSeconds: config.workerLeaseSeconds, log: app.log });
  // A quarter of the TTL, between 1 s and a minute: a short test TTL is swept promptly, a day-long
  // one costs one cheap indexed query a minute per instance.
  const sweepMs = Math.min(60_000, Math.max(1000, (config.exportTtlSeconds * 1000) / 4));
  let sweeper: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  const sweep = () => {
    sweeping ??= exports
      .sweep()
      .then((expired) => {
        for (const id of expired) app.log.info({ export_id: id }, 'export expired: archive removed');
      })
      .catch((error: unknown) => app.log.warn({ err: error }, 'export sweep failed'))
      .finally(() => {
        sweeping = undefined;
      });
  };
  app.addHook('onReady', async () => {
    worker.start();
    sweeper = setInterval(sweep, sweepMs);
    sweeper.unref();
  });
  app.addHook('preClose', async () => {
    clearInterval(sweeper);
    await Promise.all([worker.stop(), sweeping]);
  });
};

export default fp(exportWorker, { name: 'export-worker', fastify: '5.x', dependencies: ['services'] });

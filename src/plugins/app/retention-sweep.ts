import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';

/** How often each instance sweeps; every instance does, and concurrent sweeps delete the same rows harmlessly. */
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Removes what is kept only for a while (docs/adr/0021-safe-writes.md): audit entries past
 * AUDIT_RETENTION_DAYS, idempotency keys past 24 h. Once when the app is ready, then hourly; a
 * failed sweep (database down) is logged and tried again at the next tick.
 */
const retentionSweep: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const { audit, idempotencyKeys } = app.services;
  let running: Promise<void> | undefined;

  const sweep = async () => {
    try {
      const [auditEntries, keys] = await Promise.all([audit.sweep(config.auditRetentionDays), idempotencyKeys.sweep()]);
      if (auditEntries + keys > 0) app.log.info({ audit_entries: auditEntries, idempotency_keys: keys }, 'retention sweep');
    } catch (error) {
      app.log.warn({ err: error }, 'retention sweep failed; tried again at the next tick');
    }
  };
  const tick = () => {
    running ??= sweep().finally(() => {
      running = undefined;
    });
  };

  const timer = setInterval(tick, SWEEP_INTERVAL_MS);
  timer.unref();
  app.addHook('onReady', async () => tick());
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await running;
  });
};

export default fp(retentionSweep, { name: 'retention-sweep', fastify: '5.x', dependencies: ['services'] });

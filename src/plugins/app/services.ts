import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { loadSigningKeys } from '../../auth/keys.js';
import { TokenService } from '../../auth/tokens.js';
import type { Config } from '../../config.js';
import { DownloadLinks } from '../../services/export-link.js';
import { buildServices, type Services } from '../../services/index.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every service, built once by the composition root (src/services/index.ts). */
    services: Services;
  }
}

/**
 * Decorates `app.services` from the infrastructure plugins' handles (database, event bus,
 * vector store) and the signing keys (from config, or generated once into DATA_DIR).
 */
const services: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  const tokens = new TokenService(await loadSigningKeys(config), {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    expiresInMinutes: config.accessTokenExpireMinutes,
  });
  const built = buildServices({
    db: app.db,
    bus: app.eventBus,
    vectors: app.vectors,
    tokens,
    log: app.log,
    replayEvents: config.sseReplayEvents,
    workerMaxAttempts: config.workerMaxAttempts,
    exports: {
      links: await DownloadLinks.create(tokens.keys, config.exportLinkTtlSeconds),
      ttlSeconds: config.exportTtlSeconds,
      buildDelayMs: config.exportBuildDelayMs,
    },
  });
  app.decorate('services', built);
  // The background jobs among the services. Deleted projects' vectors still owed
  // (docs/adr/0017-no-leaks-no-races.md): started once the app is ready — what a previous
  // process left is tried first — and stopped at close; what is still owed stays in the table.
  const purges = built.vectorPurges;
  if (purges) {
    app.addHook('onReady', (done) => {
      purges.start();
      done();
    });
    app.addHook('onClose', () => purges.close());
  }
  // Every instance sweeps expired worker leases; each is handled once (docs/adr/0020).
  built.leases.startSweeper((error) => app.log.warn({ err: error }, 'lease expiry sweep failed'));
  // Long polls end before the server waits for in-flight requests (preClose), not after (onClose).
  app.addHook('preClose', async () => built.leases.stopPolls());
  app.addHook('onClose', () => built.leases.close());
};

export default fp(services, { name: 'services', fastify: '5.x', dependencies: ['postgres', 'redis', 'qdrant'] });

import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { loadSigningKeys } from '../../auth/keys.js';
import { TokenService } from '../../auth/tokens.js';
import type { Config } from '../../config.js';
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
  });
  app.decorate('services', built);
  // The one background job among the services: deleted projects' vectors still owed
  // (docs/adr/0017-no-leaks-no-races.md). It starts once the app is ready — what a previous
  // process left is tried first — and stops at close; what is still owed stays in the table.
  const purges = built.vectorPurges;
  if (purges) {
    app.addHook('onReady', (done) => {
      purges.start();
      done();
    });
    app.addHook('onClose', () => purges.close());
  }
};

export default fp(services, { name: 'services', fastify: '5.x', dependencies: ['postgres', 'redis', 'qdrant'] });

import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { VectorPurgeService } from '../../services/vector-purges.service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Vector deletions owed for deleted projects, kept in PostgreSQL; null without a vector store. */
    vectorPurges: VectorPurgeService | null;
  }
}

/**
 * The durable side of deleting a project's vectors (issue 14 item 9): needs both the database
 * (the `vector_purges` queue) and Qdrant. Its sweep starts once the app is ready — what a
 * previous process left owed is retried first — and stops at close; what is still owed then
 * stays in the table for the next start (or another instance).
 */
const vectorPurges: FastifyPluginCallback = (app, _opts, done) => {
  if (app.vectors === null) {
    app.decorate('vectorPurges', null);
    done();
    return;
  }
  const service = new VectorPurgeService(app.db, app.vectors, { log: app.log.child({ component: 'vector-purges' }) });
  app.decorate('vectorPurges', service);
  app.addHook('onReady', (next) => {
    service.start();
    next();
  });
  app.addHook('onClose', async () => {
    await service.close();
  });
  done();
};

export default fp(vectorPurges, { name: 'vector-purges', fastify: '5.x', dependencies: ['qdrant', 'postgres'] });

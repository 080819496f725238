import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ProjectEventsRepository } from '../../repositories/project-events.repository.js';
import { ProjectFeed } from '../../streaming/project-feed.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The live source of project streams: PostgreSQL's NOTIFY after COMMIT (docs/adr/0022). */
    projectFeed: ProjectFeed;
  }
}

/**
 * One LISTEN connection per process, beside the pool (it is held for the process's life, so it
 * does not take a pool slot); the same server and credentials as the pool.
 */
const projectFeedPlugin: FastifyPluginAsync = async (app) => {
  const feed = new ProjectFeed(
    app.database.pool.options,
    new ProjectEventsRepository(app.db),
    app.log.child({ component: 'project-feed' }),
  );
  await feed.start();
  app.decorate('projectFeed', feed);
  app.addHook('onClose', () => feed.close());
};

export default fp(projectFeedPlugin, { name: 'project-feed', fastify: '5.x', dependencies: ['postgres'] });

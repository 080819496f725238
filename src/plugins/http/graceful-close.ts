import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Node's server.close() waits for every open connection, and a keep-alive connection that
 * was busy when shutdown began stays open after its response until the client drops it —
 * past our 5 s budget (REQ-001.5). Once closing, every response asks the client to close.
 */
const gracefulClose: FastifyPluginCallback = (app, _opts, done) => {
  let closing = false;
  app.addHook('preClose', (next) => {
    closing = true;
    next();
  });
  app.addHook('onSend', (_request, reply, payload, next) => {
    if (closing) reply.header('connection', 'close');
    next(null, payload);
  });
  done();
};

export default fp(gracefulClose, { name: 'graceful-close', fastify: '5.x' });

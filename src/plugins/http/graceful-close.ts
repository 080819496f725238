import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { onRequestHookHandler, onSendHookHandler, preCloseAsyncHookHandler } from 'fastify';
import { ServiceUnavailableError } from '../../lib/errors.js';
import { SHUTTING_DOWN } from './error-handler.js';

/**
 * Node's server.close() waits for every open connection, and a keep-alive connection that
 * was busy when shutdown began stays open after its response until the client drops it —
 * past our 5 s budget (REQ-001.5). Once closing (preClose), every response asks the client
 * to close (onSend). A request that still arrives on an open connection is refused at once
 * with the contract's 503 (onRequest; Fastify's own return503OnClosing would answer with its
 * own body): the load balancer sends it elsewhere (docs/adr/0015).
 *
 * A connection that was opened but has not sent a byte yet is neither idle nor busy to Node:
 * server.close() closes idle keep-alive connections and waits for busy ones, but leaves these
 * open until the client drops them, which an HTTP client's pool (undici's, a load balancer's
 * pre-opened connections) may never do — app.close() then never returned (a whole-suite hang,
 * docs/adr/0024-rate-limit-gcra.md § the hang). Once closing, they are destroyed: they carry no
 * request, so nothing is lost; a client that was about to use one retries on a new connection.
 */
export function closeConnectionsOnShutdown(server: Server): {
  markClosing: preCloseAsyncHookHandler;
  refuseWhenClosing: onRequestHookHandler;
  closeConnectionWhenClosing: onSendHookHandler;
} {
  let closing = false;
  const opened = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    opened.add(socket);
    socket.once('close', () => opened.delete(socket));
  });
  return {
    markClosing: async function markClosing() {
      closing = true;
      for (const socket of opened) if (socket.bytesRead === 0) socket.destroy();
    },
    refuseWhenClosing: function refuseWhenClosing(_request, _reply, next) {
      if (closing) next(new ServiceUnavailableError(SHUTTING_DOWN, 'The server is shutting down: retry'));
      else next();
    },
    closeConnectionWhenClosing: function closeConnectionWhenClosing(_request, reply, payload, next) {
      if (closing) reply.header('connection', 'close');
      next(null, payload);
    },
  };
}

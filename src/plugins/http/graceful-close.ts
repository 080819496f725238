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
 */
export function closeConnectionsOnShutdown(): {
  markClosing: preCloseAsyncHookHandler;
  refuseWhenClosing: onRequestHookHandler;
  closeConnectionWhenClosing: onSendHookHandler;
} {
  let closing = false;
  return {
    markClosing: async function markClosing() {
      closing = true;
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

import type { onSendHookHandler, preCloseAsyncHookHandler } from 'fastify';

/**
 * Node's server.close() waits for every open connection, and a keep-alive connection that
 * was busy when shutdown began stays open after its response until the client drops it —
 * past our 5 s budget (REQ-001.5). Once closing (preClose), every response asks the client
 * to close (onSend).
 */
export function closeConnectionsOnShutdown(): { markClosing: preCloseAsyncHookHandler; closeConnectionWhenClosing: onSendHookHandler } {
  let closing = false;
  return {
    markClosing: async function markClosing() {
      closing = true;
    },
    closeConnectionWhenClosing: function closeConnectionWhenClosing(_request, reply, payload, next) {
      if (closing) reply.header('connection', 'close');
      next(null, payload);
    },
  };
}

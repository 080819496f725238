import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { type CloseReason, SseConnection, type SseSink } from './sse-connection.js';

declare module 'fastify' {
  interface FastifyInstance {
    streams: SseHub;
  }
}

/** Every open event stream of this instance, so shutdown and a lost bus can end them all. */
export class SseHub {
  private readonly open = new Set<SseConnection>();

  constructor(
    readonly keepaliveMs: number,
    readonly maxBufferBytes: number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  connect(res: SseSink, onClose: (reason: CloseReason) => void): SseConnection {
    const connection: SseConnection = new SseConnection(res, {
      keepaliveMs: this.keepaliveMs,
      maxBufferBytes: this.maxBufferBytes,
      onClose: (reason) => {
        this.open.delete(connection);
        onClose(reason);
      },
    });
    this.open.add(connection);
    return connection;
  }

  closeAll(reason: CloseReason): void {
    for (const connection of [...this.open]) connection.close(reason);
  }
}

/**
 * Fastify's close() waits for open connections but does not end event streams itself: end
 * them first so the process still exits within 5 s (REQ-001.5). A bus that loses Redis ends
 * them too; clients reconnect and resume from their Last-Event-ID.
 */
const sseHub: FastifyPluginCallback<{ config: Config }> = (app, { config }, done) => {
  const hub = new SseHub(config.sseKeepaliveSeconds * 1000, config.sseMaxBufferBytes);
  app.decorate('streams', hub);
  app.eventBus.onDisconnect(() => {
    if (hub.size > 0) app.log.warn({ streams: hub.size }, 'event bus connection lost: ending open streams');
    hub.closeAll('bus_lost');
  });
  app.addHook('preClose', (next) => {
    hub.closeAll('shutdown');
    next();
  });
  done();
};

export default fp(sseHub, { name: 'sse-hub', fastify: '5.x', dependencies: ['redis'] });

import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { eventsDelivered } from '../telemetry/metrics.js';
import { type CloseReason, SseConnection, type SseHost, type SseSink } from './sse-connection.js';

declare module 'fastify' {
  interface FastifyInstance {
    streams: SseHub;
  }
}

/** Sweeps per keepalive period: a silent stream gets its comment after between ¾ and all of SSE_KEEPALIVE_SECONDS. */
const SWEEPS_PER_KEEPALIVE = 4;

/**
 * Every open event stream of this instance, so shutdown and a lost bus can end them all; and
 * what they share so that one event reaching N streams costs N socket writes and little else
 * (docs/adr/0025): one keepalive sweep instead of a timer per stream refreshed on every write,
 * one uncork pass per tick for every socket written in it, one metric update per tick.
 */
export class SseHub implements SseHost {
  private readonly open = new Set<SseConnection>();
  private corked: SseConnection[] = [];
  private flushing = false;
  private deliveries = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  sweeps = 0;

  constructor(
    readonly keepaliveMs: number,
    readonly maxBufferBytes: number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  connect(res: SseSink, onClose: (reason: CloseReason) => void): SseConnection {
    const connection: SseConnection = new SseConnection(res, this, (reason) => {
      this.open.delete(connection);
      if (this.open.size === 0) this.stopSweeping();
      onClose(reason);
    });
    this.open.add(connection);
    this.sweepTimer ??= setInterval(() => this.sweep(), this.keepaliveMs / SWEEPS_PER_KEEPALIVE).unref();
    return connection;
  }

  closeAll(reason: CloseReason): void {
    for (const connection of [...this.open]) connection.close(reason);
  }

  uncorkLater(connection: SseConnection): void {
    this.corked.push(connection);
    if (this.flushing) return;
    this.flushing = true;
    process.nextTick(this.flush);
  }

  delivered(): void {
    this.deliveries++;
  }

  private readonly flush = (): void => {
    const corked = this.corked;
    this.corked = [];
    this.flushing = false;
    for (const connection of corked) connection.uncork();
    if (this.deliveries > 0) {
      eventsDelivered.add(this.deliveries);
      this.deliveries = 0;
    }
  };

  private sweep(): void {
    this.sweeps++;
    for (const connection of this.open) connection.keepaliveAfter(SWEEPS_PER_KEEPALIVE);
  }

  private stopSweeping(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
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

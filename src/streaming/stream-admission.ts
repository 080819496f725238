import { randomInt } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { AppError } from '../lib/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    streamAdmission: StreamAdmission;
  }
}

/** What an admitted stream is bound to: its slot is given back when the lifetime ends (stream-lifetime.ts). */
export interface AdmissionHolder {
  hold(release: () => void): unknown;
}

export interface StreamAdmissionOptions {
  /** Streams this instance holds at once (admitted, opening or open); 0 = no cap. */
  readonly maxStreams: number;
  /** The SSE `retry:` hint's centre; each stream gets a value in [½, 1½] of it. */
  readonly retryMs: number;
  /** The least `Retry-After` of a refused stream; each refusal gets a value in [1, 2] of it. */
  readonly retryAfterSeconds: number;
  /** Uniform integer in [min, max]; crypto's by default, fixed in unit tests. */
  readonly between?: (min: number, max: number) => number;
}

/** A stream refused because this instance holds its cap (docs/contract.md §9, docs/adr/0028). */
export class StreamCapReachedError extends AppError {
  readonly code = 'service_unavailable';
  readonly statusCode = 503;
  constructor(maxStreams: number, retryAfterSeconds: number) {
    super(
      `This instance holds its maximum of ${maxStreams} event streams; retry after ${retryAfterSeconds} s`,
      { service: 'event_streams', max_streams: maxStreams },
      { 'retry-after': String(retryAfterSeconds) },
    );
  }
}

const cryptoBetween = (min: number, max: number) => randomInt(min, max + 1);

/**
 * Reconnect storms (issue 20 item 4, docs/adr/0028). When an instance restarts, every stream it
 * held reconnects at once; two things keep that from becoming a synchronised wave:
 * - the `retry:` hint each stream gets is spread over [½, 1½] of `SSE_RETRY_MS`, so browsers
 *   that lose the same instance at the same moment come back over a second or more, not in one
 *   tick;
 * - an instance holds at most `SSE_MAX_STREAMS` streams: past it a new stream is refused with
 *   503 and a `Retry-After` spread over [1, 2] × `SSE_CAP_RETRY_AFTER_SECONDS` (a balancer or the
 *   client takes it elsewhere or later). Open streams are never evicted to make room.
 * The count starts at the handler's first line (not when the stream opens), so a burst of
 * opens still being authorised cannot overshoot the cap.
 */
export class StreamAdmission {
  private held = 0;
  private readonly between: (min: number, max: number) => number;

  constructor(private readonly options: StreamAdmissionOptions) {
    this.between = options.between ?? cryptoBetween;
  }

  /** Streams counted now (admitted and not yet ended). */
  get size(): number {
    return this.held;
  }

  /** Takes a slot for the stream bound to `holder`, or throws the 503 when none is free. */
  admit(holder: AdmissionHolder): void {
    const { maxStreams, retryAfterSeconds } = this.options;
    if (maxStreams > 0 && this.held >= maxStreams) {
      throw new StreamCapReachedError(maxStreams, this.between(retryAfterSeconds, 2 * retryAfterSeconds));
    }
    this.held++;
    holder.hold(() => {
      this.held--;
    });
  }

  /** The `retry:` hint for one stream, in milliseconds. */
  retryMs(): number {
    const centre = this.options.retryMs;
    return this.between(Math.ceil(centre / 2), Math.floor((3 * centre) / 2));
  }
}

const streamAdmission: FastifyPluginCallback<{ config: Config }> = (app, { config }, done) => {
  app.decorate(
    'streamAdmission',
    new StreamAdmission({
      maxStreams: config.sseMaxStreams,
      retryMs: config.sseRetryMs,
      retryAfterSeconds: config.sseCapRetryAfterSeconds,
    }),
  );
  done();
};

export default fp(streamAdmission, { name: 'stream-admission', fastify: '5.x' });

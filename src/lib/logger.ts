import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LogLevel } from '../config.js';
import { currentContext } from './request-context.js';

/**
 * One JSON object per line on stdout (OBS-002): `time`, `level` as a name, `msg`, and the
 * request's context through the mixin. Secrets are redacted at the source: the
 * Authorization header never reaches a line, and URLs are logged through `safeUrl`.
 */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
    },
    base: undefined,
    mixin() {
      const ctx = currentContext();
      // With tracing on (the telemetry preload), lines written inside a span join it by id;
      // without, a request's lines carry the ids its context was given (docs/contract.md §6).
      // One object per line, fields in this order (undefined ones are left out of the line).
      const span = trace.getSpan(context.active())?.spanContext();
      const traced = span !== undefined && isSpanContextValid(span);
      return {
        correlation_id: ctx?.correlation_id,
        project_id: ctx?.project_id,
        user_id: ctx?.user_id,
        trace_id: traced ? span.traceId : ctx?.trace_id,
        span_id: traced ? span.spanId : ctx?.span_id,
      };
    },
    // Fastify merges its own `req` serializer (which writes `url` whole) under ours: anything that
    // logs a request gets its path only.
    serializers: {
      req: (req: { method?: string; url?: string; socket?: { remoteAddress?: string } }) => ({
        method: req.method,
        url: typeof req.url === 'string' ? safeUrl(req.url) : undefined,
        remote_address: req.socket?.remoteAddress,
      }),
    },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'authorization',
        'access_token',
        '*.access_token',
        'password',
        '*.password',
      ],
      censor: '[redacted]',
    },
  };
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

/**
 * The URL as log lines show it: its path only. A query string can carry a token under any
 * spelling the query parser decodes (`?access_token=`, `?access%5Ftoken=`, …), so none of it is
 * logged rather than some of it redacted by name (docs/contract.md §6; docs/adr/0017-no-leaks-no-races.md).
 */
export function safeUrl(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

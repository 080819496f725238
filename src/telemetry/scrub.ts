import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

/*
 * What spans may say about a URL (docs/contract.md §6, issue 14 item 4): a browser stream carries its
 * token in the query string (`?access_token=`, or `?access%5Ftoken=`, which the query parser
 * decodes to the same name), and @fastify/otel records `url.path` as `request.url`, query
 * included. Query strings are dropped whole rather than filtered by parameter name: a name
 * can be spelled in more ways than a filter knows. docs/adr/0017-no-leaks-no-races.md.
 */

/** The path of a request target (`/a/b?x=1#f` → `/a/b`). */
export function pathOnly(target: string): string {
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

/** An absolute URL without credentials, query or fragment (`https://u:p@h/a?x` → `https://h/a`). */
export function urlWithoutQuery(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return pathOnly(url);
  }
}

/** Attributes (semantic conventions, old and new) that hold a path, an absolute URL, or a query. */
const PATH_ATTRIBUTES = ['url.path', 'http.target'] as const;
const URL_ATTRIBUTES = ['url.full', 'http.url'] as const;
const QUERY_ATTRIBUTES = ['url.query'] as const;

/** Rewrites the URL-bearing attributes of a live span in place; others are left as they are. */
export function scrubUrlAttributes(span: Span): void {
  const attributes = span.attributes;
  for (const key of PATH_ATTRIBUTES) {
    const value = attributes[key];
    if (typeof value === 'string') span.setAttribute(key, pathOnly(value));
  }
  for (const key of URL_ATTRIBUTES) {
    const value = attributes[key];
    if (typeof value === 'string') span.setAttribute(key, urlWithoutQuery(value));
  }
  for (const key of QUERY_ATTRIBUTES) {
    // The API cannot unset an attribute; the SDK's own record is a plain object (sdk-trace 3.1).
    if (key in attributes) delete (attributes as Record<string, unknown>)[key];
  }
}

/**
 * Runs before the exporting processor sees a span: at the end of each span (`onEnding`, while it
 * can still be changed), every URL attribute is cut to what carries no secret. One place for
 * every instrumentation (@fastify/otel, undici, http), whatever each records.
 */
export class UrlScrubbingSpanProcessor implements SpanProcessor {
  onStart(_span: Span, _parentContext: Context): void {}

  onEnding(span: Span): void {
    scrubUrlAttributes(span);
  }

  onEnd(_span: ReadableSpan): void {}

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * For the ioredis instrumentation: the command name only. Its default keeps every argument of
 * EVAL/EVALSHA — for the event bus that is the whole event, payload included.
 */
export function redisCommandOnly(command: string): string {
  return command;
}

import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Conditional requests (RFC 9110 §13, docs/contract.md §12), for any route: reads answer 304
 * to a matching `If-None-Match`; writes compare `If-Match` themselves, inside their
 * transaction, with the values `ifMatchValues` gives them. Used by projects and document
 * versions; message reads use `replyWithEtag` the same way.
 */

/** A strong entity tag for an opaque value (no quotes or backslashes in it). */
export function strongEtag(value: string): string {
  return `"${value}"`;
}

/** `If-None-Match` / `If-Match` list entries; `W/` kept so a strong comparison can refuse it. */
function entries(header: string): string[] {
  return header
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

/** Weak comparison (RFC 9110 §13.1.2: If-None-Match compares weakly). */
function noneMatchHits(header: string, etag: string): boolean {
  return entries(header).some((entry) => entry === '*' || entry.replace(/^W\//, '') === etag);
}

/**
 * Sets `ETag` and answers 304 with no body when `If-None-Match` matches it: the hooks of the
 * chain have already set the §3 headers, so the 304 carries them like any response. Returns
 * the body to send otherwise (`return replyWithEtag(request, reply, etag, body)` in a handler).
 */
export function replyWithEtag<T>(request: FastifyRequest, reply: FastifyReply, etag: string, body: T): T | FastifyReply {
  reply.header('etag', etag);
  const header = request.headers['if-none-match'];
  if (typeof header === 'string' && noneMatchHits(header, etag)) return reply.code(304).send();
  return body;
}

/** What `If-Match` asks for: nothing (no header), anything current (`*`), or one of these strong tags. */
export type IfMatch = { readonly kind: 'none' } | { readonly kind: 'any' } | { readonly kind: 'tags'; readonly tags: readonly string[] };

export function ifMatchOf(request: FastifyRequest): IfMatch {
  const header = request.headers['if-match'];
  if (typeof header !== 'string') return { kind: 'none' };
  const list = entries(header);
  if (list.includes('*')) return { kind: 'any' };
  // A weak tag never matches under If-Match (strong comparison, RFC 9110 §13.1.1).
  return { kind: 'tags', tags: list.filter((entry) => !entry.startsWith('W/')) };
}

/** Whether a current tag (undefined: no current representation) satisfies an If-Match. */
export function ifMatchHolds(condition: IfMatch, current: string | undefined): boolean {
  if (condition.kind === 'none') return true;
  if (current === undefined) return false;
  return condition.kind === 'any' || condition.tags.includes(current);
}

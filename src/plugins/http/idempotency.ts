import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onSendHookHandler, preValidationAsyncHookHandler } from 'fastify';
import stringify from 'safe-stable-stringify';
import { BadRequestError, ConflictError, ValidationError } from '../../lib/errors.js';
import { currentContext } from '../../lib/request-context.js';
import type { IdempotencyRepository } from '../../repositories/idempotency.repository.js';

/** 1–255 visible ASCII characters (docs/contract.md §12; the table's CHECK says the same). */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** Response headers that belong to the representation and are replayed with it. */
const KEPT_HEADERS = ['etag', 'location'] as const;

interface Claim {
  readonly caller: string;
  readonly key: string;
}

/**
 * The idempotency step of the request chain (docs/contract.md §12, docs/adr/0021-safe-writes.md).
 * `claimIdempotencyKey` (preValidation, after access and limits, before body validation) lets
 * the first POST with a key run and answers the others: the kept response with
 * `Idempotent-Replayed: true`, 409 while the first is running, 422 when the key came with
 * another method, path or body. `recordIdempotentResponse` (onSend) keeps a 2xx response for
 * replays and gives the key back on anything else, so a retry after a 4xx or 5xx runs afresh:
 * such a request wrote nothing (§4), and the client may have fixed what was wrong.
 */
export function idempotencySteps(keys: IdempotencyRepository): {
  claimIdempotencyKey: preValidationAsyncHookHandler;
  recordIdempotentResponse: onSendHookHandler;
} {
  const claims = new WeakMap<FastifyRequest, Claim>();

  return {
    claimIdempotencyKey: async function claimIdempotencyKey(request: FastifyRequest, reply: FastifyReply) {
      if (request.method !== 'POST') return;
      const header = request.headers['idempotency-key'];
      if (header === undefined) return;
      const caller = callerOf(request);
      // A public POST (the development login) has no caller to keep a key for.
      if (caller === undefined) return;
      if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
        throw new BadRequestError('Idempotency-Key must be 1 to 255 visible ASCII characters, sent once');
      }
      const outcome = await keys.claim({
        caller,
        key: header,
        method: request.method,
        path: request.url,
        fingerprint: fingerprintOf(request.body),
      });
      switch (outcome.kind) {
        case 'claimed':
          claims.set(request, { caller, key: header });
          return;
        case 'mismatch':
          throw new ValidationError('This Idempotency-Key was used with another method, path or body', [
            { path: '/headers/idempotency-key', message: 'already used for a different request; use a new key' },
          ]);
        case 'in_flight':
          throw new ConflictError('A request with this Idempotency-Key is still running: retry later', null, { 'retry-after': '1' });
        case 'completed': {
          const { statusCode, contentType, headers, body } = outcome.response;
          reply.code(statusCode).headers(headers).header('idempotent-replayed', 'true');
          if (contentType !== null) reply.header('content-type', contentType);
          return reply.send(statusCode === 204 ? null : body);
        }
      }
    },

    recordIdempotentResponse: function recordIdempotentResponse(request, reply, payload, next) {
      const claim = claims.get(request);
      if (claim === undefined) return next(null, payload);
      claims.delete(request);
      const body =
        typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : payload == null ? '' : null;
      const ok = reply.statusCode >= 200 && reply.statusCode < 300 && body !== null;
      const kept: Record<string, string> = {};
      for (const name of KEPT_HEADERS) {
        const value = reply.getHeader(name);
        if (typeof value === 'string') kept[name] = value;
      }
      const contentType = reply.getHeader('content-type');
      const done = ok
        ? keys.complete(claim.caller, claim.key, {
            statusCode: reply.statusCode,
            contentType: typeof contentType === 'string' ? contentType : null,
            headers: kept,
            body: body ?? '',
          })
        : keys.release(claim.caller, claim.key);
      // Awaited before the response leaves, so a retry that follows it finds the kept response.
      done.then(
        () => next(null, payload),
        (error: unknown) => {
          request.log.warn({ err: error }, 'idempotency key not recorded; a retry within 2 minutes gets 409');
          next(null, payload);
        },
      );
    },
  };
}

/** Keys belong to a caller: the worker when an operation token made the request, else the user. */
function callerOf(request: FastifyRequest): string | undefined {
  if (request.user === null) return undefined;
  const worker = currentContext()?.worker;
  return worker !== undefined ? `worker:${worker}` : `user:${request.user.id}`;
}

/** The body as parsed, keys sorted: the same JSON in another key order or spacing is the same request. */
function fingerprintOf(body: unknown): string {
  return createHash('sha256')
    .update(stringify(body ?? null) ?? 'null')
    .digest('base64url');
}

import { randomUUID } from 'node:crypto';
import { QdrantClientTimeoutError } from '@qdrant/js-client-rest';
import { describe, expect, it } from 'vitest';
import { pointIdOf, type VectorInput } from '../../../src/access/vector-scope.js';
import { describeQdrantError, isTransientQdrantError } from '../../../src/repositories/vector-collection.js';
import { scopeFor } from '../../helpers/vector-fixtures.js';

function httpError(status: number, detail?: string): Error {
  return Object.assign(new Error('Service Unavailable'), { status, data: detail ? { status: { error: detail } } : undefined });
}

describe('isTransientQdrantError', () => {
  it.each([
    ['connection refused', new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }), true],
    ['connection reset (as a cause)', Object.assign(new Error('socket'), { cause: { code: 'ECONNRESET' } }), true],
    ['client timeout', new QdrantClientTimeoutError('aborted'), true],
    ['503', httpError(503), true],
    ['500', httpError(500), true],
    ['429', httpError(429), true],
    ['400 (our request is wrong)', httpError(400), false],
    ['404', httpError(404), false],
    ['a plain error', new Error('boom'), false],
    ['not an Error at all', 'fetch failed', false],
  ])('when the failure is %s, returns %s', (_, error, expected) => {
    expect(isTransientQdrantError(error)).toBe(expected);
  });
});

describe('describeQdrantError', () => {
  it('names the socket code of a network failure and the status and message of an HTTP one', () => {
    expect(describeQdrantError(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }))).toBe('fetch failed (ECONNREFUSED)');
    expect(describeQdrantError(httpError(409, 'Wrong input: Collection `x` already exists!'))).toBe(
      'HTTP 409: Wrong input: Collection `x` already exists!',
    );
  });
});

describe('pointIdOf', () => {
  const input: VectorInput = { vector: [], type: 'memory', documentType: 'about', contentHash: 'sha256:abc' };

  it('derives a version-8 RFC 9562 UUID, the same for the same scope and content', () => {
    const scope = scopeFor(randomUUID(), 'en');
    const id = pointIdOf(scope, input);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pointIdOf(scope, { ...input, vector: [1, 2] })).toBe(id);
  });

  it('differs whenever project, language, type, document type or content differ, so no project can address another’s point', () => {
    const projectId = randomUUID();
    const base = pointIdOf(scopeFor(projectId, 'en'), input);
    const variants = [
      pointIdOf(scopeFor(randomUUID(), 'en'), input),
      pointIdOf(scopeFor(projectId, 'fr'), input),
      pointIdOf(scopeFor(projectId, 'en'), { ...input, type: 'knowledge' }),
      pointIdOf(scopeFor(projectId, 'en'), { ...input, documentType: null }),
      pointIdOf(scopeFor(projectId, 'en'), { ...input, contentHash: 'sha256:abd' }),
    ];
    expect(new Set([base, ...variants]).size).toBe(6);
  });
});

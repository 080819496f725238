import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ifMatchHolds, ifMatchOf, strongEtag } from '../../../../src/plugins/http/etag.js';

const withIfMatch = (value?: string) => ({ headers: value === undefined ? {} : { 'if-match': value } }) as unknown as FastifyRequest;

describe('If-Match (src/plugins/http/etag.ts)', () => {
  const current = strongEtag('abc');

  it.each([
    ['no header', undefined, current, true],
    ['no header, no current version', undefined, undefined, true],
    ['the current tag', '"abc"', current, true],
    ['a list holding the current tag', '"x", "abc"', current, true],
    ['a stale tag', '"x"', current, false],
    ['the current tag, weak (strong comparison)', 'W/"abc"', current, false],
    ['"*" with a current version', '*', current, true],
    ['"*" with no current version', '*', undefined, false],
    ['a tag with no current version', '"abc"', undefined, false],
    ['an empty header', '', current, false],
  ])('when If-Match is %s, decides as RFC 9110 §13.1.1 says', (_name, header, tag, expected) => {
    expect(ifMatchHolds(ifMatchOf(withIfMatch(header)), tag)).toBe(expected);
  });
});

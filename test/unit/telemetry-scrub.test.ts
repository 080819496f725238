import { describe, expect, it } from 'vitest';
import { safeUrl } from '../../src/lib/logger.js';
import { pathOnly, urlWithoutQuery } from '../../src/telemetry/scrub.js';

describe('URL scrubbing for spans and log lines', () => {
  it.each([
    ['/api/v1/x/events?access_token=abc', '/api/v1/x/events'],
    ['/api/v1/x/events?access%5Ftoken=abc', '/api/v1/x/events'],
    ['/a#frag?x', '/a'],
    ['/plain', '/plain'],
    ['', ''],
  ])('pathOnly(%j) keeps only the path', (input, expected) => {
    expect(pathOnly(input)).toBe(expected);
    expect(safeUrl(input)).toBe(expected);
  });

  it.each([
    ['http://user:secret@qdrant:6333/collections/c/points?wait=true', 'http://qdrant:6333/collections/c/points'],
    ['https://h/a?access_token=t#x', 'https://h/a'],
    ['not a url?token=t', 'not a url'],
  ])('urlWithoutQuery(%j) drops credentials, query and fragment', (input, expected) => {
    expect(urlWithoutQuery(input)).toBe(expected);
  });
});

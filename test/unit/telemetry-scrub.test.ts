import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loggerOptions, safeUrl } from '../../src/lib/logger.js';
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

describe('log lines and request URLs', () => {
  it('when a line carries a request (as Fastify logs one), its url is the path only', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const log = pino(loggerOptions('info'), sink);
    log.info({ req: { method: 'GET', url: '/api/v1/x/events?access%5Ftoken=SECRET-1', headers: {} } }, 'incoming');
    const line = JSON.parse(lines[0] ?? '{}') as { req?: { url?: string } };
    expect(line.req?.url).toBe('/api/v1/x/events');
    expect(lines.join('')).not.toContain('SECRET-1');
  });
});

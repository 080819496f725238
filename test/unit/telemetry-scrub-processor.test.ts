import { context } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { UrlScrubbingSpanProcessor } from '../../src/telemetry/scrub.js';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({
  spanProcessors: [new UrlScrubbingSpanProcessor(), new SimpleSpanProcessor({ exporter })],
});
const tracer = provider.getTracer('test');

afterEach(() => exporter.reset());

describe('UrlScrubbingSpanProcessor', () => {
  it('when a span ends with URL attributes (set at start or later), the exporter sees paths and URLs without query, fragment or credentials', () => {
    const span = tracer.startSpan(
      'GET',
      { attributes: { 'url.path': '/events?access%5Ftoken=t1', 'http.target': '/x?access_token=t2' } },
      context.active(),
    );
    span.setAttributes({
      'url.full': 'http://user:pw@qdrant:6333/collections/c/points?wait=true&token=t3#f',
      'http.url': 'https://h/a?access_token=t4',
      'url.query': 'access_token=t5',
      'http.route': '/events',
    });
    span.end();
    const [exported] = exporter.getFinishedSpans();
    expect(exported?.attributes).toEqual({
      'url.path': '/events',
      'http.target': '/x',
      'url.full': 'http://qdrant:6333/collections/c/points',
      'http.url': 'https://h/a',
      'http.route': '/events',
    });
  });
});

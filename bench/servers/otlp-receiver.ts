import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { announceReady } from '../lib/serve.js';

/**
 * The "local receiver" of the tracing scenario: stands in for an OpenTelemetry collector
 * (OTLP/HTTP, JSON — the encoding of the exporter src/telemetry/sdk.ts uses) and only counts.
 * It runs on the same 2 vCPUs as the app, so it must cost as little as possible: spans are
 * counted by their `"spanId":` keys instead of parsing the JSON (test/helpers/otlp-receiver.ts
 * parses everything, which is what a test needs, not a benchmark). `parentSpanId` does not
 * match: the character before its `SpanId` is not a quote.
 *
 * GET /stats → { spans, traceExports, metricExports }; POST /reset zeroes them.
 */
const KEY = Buffer.from('"spanId":');
let spans = 0;
let traceExports = 0;
let metricExports = 0;

function countSpans(body: Buffer): number {
  let n = 0;
  for (let at = body.indexOf(KEY); at !== -1; at = body.indexOf(KEY, at + KEY.length)) n++;
  return n;
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ spans, traceExports, metricExports }));
    return;
  }
  if (req.method === 'POST' && req.url === '/reset') {
    spans = 0;
    traceExports = 0;
    metricExports = 0;
    res.writeHead(204).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.url === '/v1/traces') {
      const raw = Buffer.concat(chunks);
      spans += countSpans(req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw);
      traceExports++;
    } else if (req.url === '/v1/metrics') {
      metricExports++;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});

server.listen(0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

import { randomUUID } from 'node:crypto';
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CORS_EXPOSED_HEADERS } from '../../src/plugins/http/cors.js';
import { API_HEADERS } from '../../src/plugins/http/security-headers.js';
import { announceReady } from '../lib/serve.js';

/**
 * The baseline: the least a Node server can do to answer the health route — the same
 * bytes and content type as Fastify's reply, no routing, no hooks, no logging.
 *
 * BARE_HEADERS=api (the `anatomy` scenario) adds the headers the app's contract requires on
 * every response — security headers, CORS for the allowed origin, a fresh correlation id —
 * so that their cost in node:http itself can be told apart from the framework's.
 */
const BODY = JSON.stringify({ status: 'ok' });
const BASE: OutgoingHttpHeaders = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(BODY) };
const withApiHeaders = process.env.BARE_HEADERS === 'api';
const API: OutgoingHttpHeaders = {
  ...API_HEADERS,
  'access-control-allow-credentials': 'true',
  'access-control-expose-headers': CORS_EXPOSED_HEADERS.join(', '),
  vary: 'Origin',
  ...BASE,
};

const server = createServer((req, res) => {
  if (withApiHeaders) {
    res.writeHead(200, { ...API, 'access-control-allow-origin': req.headers.origin ?? '', 'x-correlation-id': randomUUID() });
  } else {
    res.writeHead(200, BASE);
  }
  res.end(BODY);
});
server.listen(0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

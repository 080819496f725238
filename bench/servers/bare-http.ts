import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady } from '../lib/serve.js';

/**
 * The baseline: the least a Node server can do to answer the health route — the same
 * bytes and content type as Fastify's reply, no routing, no hooks, no logging.
 */
const BODY = JSON.stringify({ status: 'ok' });
const HEADERS = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(BODY)) };

const server = createServer((_req, res) => {
  res.writeHead(200, HEADERS);
  res.end(BODY);
});
server.listen(0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

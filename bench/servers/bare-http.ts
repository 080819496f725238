import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady } from '../lib/serve.js';

/**
 * The baseline: the least a Node server can do to answer the health route — the same
 * bytes and content type as Fastify's reply, no routing, no hooks, no logging.
 * (What the contract's own headers cost node:http was measured once, by the `anatomy`
 * scenario: bench/RESULTS.md.)
 */
const BODY = JSON.stringify({ status: 'ok' });
const BASE: OutgoingHttpHeaders = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(BODY) };

const server = createServer((_req, res) => {
  res.writeHead(200, BASE);
  res.end(BODY);
});
server.listen(0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

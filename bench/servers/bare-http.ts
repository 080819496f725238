import { randomFillSync, randomUUID } from 'node:crypto';
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { loggerOptions } from '../../src/lib/logger.js';
import { CORS_EXPOSED_HEADERS } from '../../src/plugins/http/cors.js';
import { API_HEADERS } from '../../src/plugins/http/security-headers.js';
import { announceReady } from '../lib/serve.js';

/**
 * The baselines of the `health` scenario, both node:http with no routing and no hooks.
 *
 * BARE_WORK unset: the least a Node server can do to answer the health route — the same
 * bytes and content type as Fastify's reply, no other header, no logging.
 *
 * BARE_WORK=same: the same work as the app's chain, written by hand (issue 19's limit): the
 * contract's headers (docs/contract.md §3: the security headers, CORS for the allowed origin, a
 * fresh correlation id), the same body, and one `request completed` line per request at info,
 * through pino with the app's own logger options (src/lib/logger.ts) and the fields the app's
 * line carries (correlation, trace and span ids, method, path, status, duration), written to
 * BENCH_LOG_DEST (else stdout) by the same synchronous write the app uses.
 */
const BODY = JSON.stringify({ status: 'ok' });
const BASE: OutgoingHttpHeaders = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(BODY) };
const ALLOWED_ORIGIN = 'http://localhost:5200';
const SAME_WORK: OutgoingHttpHeaders = {
  ...API_HEADERS,
  'access-control-allow-credentials': 'true',
  'access-control-expose-headers': CORS_EXPOSED_HEADERS.join(', '),
  vary: 'Origin',
  ...BASE,
};

const sameWork = process.env.BARE_WORK === 'same';
if (process.env.BARE_WORK !== undefined && !sameWork) throw new Error(`BARE_WORK: unset or "same" (got ${process.env.BARE_WORK})`);
const logDest = process.env.BENCH_LOG_DEST;
const log = pino(loggerOptions('info'), pino.destination({ dest: logDest || 1, sync: true }));

// Trace and span ids as the app makes them for an untraced request: random bytes drawn in batches.
const ID_BYTES = 24;
const pool = Buffer.alloc(ID_BYTES * 256);
let offset = pool.length;

const server = createServer(
  sameWork
    ? (req, res) => {
        const start = performance.now();
        const correlationId = randomUUID();
        const headers: OutgoingHttpHeaders = { ...SAME_WORK, 'x-correlation-id': correlationId };
        if (req.headers.origin === ALLOWED_ORIGIN) headers['access-control-allow-origin'] = ALLOWED_ORIGIN;
        res.writeHead(200, headers);
        res.end(BODY);
        if (offset === pool.length) {
          randomFillSync(pool);
          offset = 0;
        }
        const at = offset;
        offset += ID_BYTES;
        log.info(
          {
            correlation_id: correlationId,
            trace_id: pool.toString('hex', at, at + 16),
            span_id: pool.toString('hex', at + 16, at + ID_BYTES),
            method: req.method,
            url: req.url,
            status_code: 200,
            duration_ms: Math.round((performance.now() - start) * 100) / 100,
          },
          'request completed',
        );
      }
    : (_req, res) => {
        res.writeHead(200, BASE);
        res.end(BODY);
      },
);
server.listen(0, '127.0.0.1', () => {
  announceReady((server.address() as AddressInfo).port, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

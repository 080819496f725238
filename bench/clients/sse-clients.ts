import { connect, type Socket } from 'node:net';
import { serveRequests } from '../lib/worker.js';

/**
 * Many SSE clients in one process (the sse-fanout scenario), driven by the parent through
 * bench/lib/worker.ts. Each client is a bare TCP socket with a hand-written GET and the least
 * parsing that can tell an event's delivery time: frames are split on the blank line that ends
 * them, and an event's latency is the receipt time minus the `sent` time the publisher put in
 * its data. A full SSE parser (or fetch streams) would cost more CPU per event than the server
 * spends sending it, and this process shares the machine with the server. The body is
 * close-delimited (docs/adr/0025): frames arrive as they are; a chunked body (the baseline
 * tree of BENCH_SSE_BASELINE) has its size lines between frames skipped by the same split.
 *
 * Requests: connect {host, port, path, token, clients, concurrency} → {connected, failed, errors, ms};
 * reset; count → {received}; stats → {received, perClientMin, perClientMax, open, closedByServer, histogram};
 * close → {closed}.
 */

/** Latency histogram resolution: 0.1 ms buckets up to two minutes. */
const BUCKETS_PER_MS = 10;
const MAX_MS = 120_000;
const histogram = new Uint32Array(MAX_MS * BUCKETS_PER_MS + 1);

interface Client {
  readonly socket: Socket;
  received: number;
  open: boolean;
}

const clients: Client[] = [];
let received = 0;
let closedByServer = 0;
const SENT = '"sent":';

const now = () => performance.timeOrigin + performance.now();

function record(frame: string, at: number, client: Client): void {
  const i = frame.indexOf(SENT);
  if (i === -1) return;
  const sent = Number.parseFloat(frame.slice(i + SENT.length, i + SENT.length + 24));
  if (!Number.isFinite(sent)) return;
  const bucket = Math.min(histogram.length - 1, Math.max(0, Math.round((at - sent) * BUCKETS_PER_MS)));
  histogram[bucket] = (histogram[bucket] ?? 0) + 1;
  received++;
  client.received++;
}

/** Opens one stream; resolves once the server has subscribed it (its `retry:` frame arrived). */
function open(host: string, port: number, path: string, token: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const client: Client = { socket, received: 0, open: false };
    let pending = '';
    let headersDone = false;
    socket.setEncoding('latin1');
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.on('data', (chunk: string) => {
      const at = now();
      pending += chunk;
      if (!headersDone) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        const status = pending.slice(0, pending.indexOf('\r\n'));
        if (!status.startsWith('HTTP/1.1 200')) {
          socket.destroy();
          reject(new Error(status));
          return;
        }
        headersDone = true;
        pending = pending.slice(end + 4);
      }
      for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n')) {
        const frame = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (!client.open) {
          if (frame.includes('retry:')) {
            client.open = true;
            resolve(client);
          }
          continue;
        }
        record(frame, at, client);
      }
    });
    socket.on('error', (error) => {
      if (!client.open) reject(error);
    });
    socket.on('close', () => {
      if (client.open) closedByServer++;
      client.open = false;
    });
  });
}

async function connectAll(message: Record<string, unknown>): Promise<Record<string, unknown>> {
  const {
    host,
    port,
    path,
    token,
    clients: count,
    concurrency,
  } = message as {
    host: string;
    port: number;
    path: string;
    token: string;
    clients: number;
    concurrency: number;
  };
  const started = performance.now();
  const errors = new Map<string, number>();
  let connected = 0;
  let attempted = 0;
  const lane = async () => {
    while (attempted < count) {
      attempted++;
      try {
        clients.push(await open(host, port, path, token));
        connected++;
      } catch (error) {
        const key = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { connected, failed: count - connected, errors: Object.fromEntries(errors), ms: performance.now() - started };
}

serveRequests(
  async (message) => {
    switch (message.cmd) {
      case 'connect':
        return connectAll(message);
      case 'reset':
        histogram.fill(0);
        received = 0;
        closedByServer = 0;
        for (const c of clients) c.received = 0;
        return {};
      case 'count':
        return { received };
      case 'stats': {
        const open = clients.filter((c) => c.open);
        const sparse: Array<[number, number]> = [];
        histogram.forEach((n, bucket) => {
          if (n > 0) sparse.push([bucket / BUCKETS_PER_MS, n]);
        });
        return {
          received,
          open: open.length,
          closedByServer,
          perClientMin: open.reduce((m, c) => Math.min(m, c.received), Number.POSITIVE_INFINITY),
          perClientMax: open.reduce((m, c) => Math.max(m, c.received), 0),
          histogram: sparse,
        };
      }
      case 'close': {
        // Closed by us, not by the server: not counted in closedByServer.
        for (const c of clients) {
          c.open = false;
          c.socket.destroy();
        }
        const closed = clients.length;
        clients.length = 0;
        return { closed };
      }
      default:
        throw new Error(`unknown request ${String(message.cmd)}`);
    }
  },
  async () => {
    for (const c of clients) c.socket.destroy();
  },
);

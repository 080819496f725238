import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveRequests } from '../lib/worker.js';

/**
 * Many SSE clients that reconnect the way a browser's EventSource does (the reconnect-storm
 * scenario): when the server ends a stream, or a connection attempt fails, the client waits its
 * reconnection time — the `retry:` hint the server sent (mode `hint`), or a fixed value (mode
 * `fixed`: what every client did before the hint carried jitter) — and opens the stream again;
 * a 503 with `Retry-After` waits that long instead. A stream counts as open once its `retry:`
 * frame arrived (the server had subscribed it). Bare sockets, as in sse-clients.ts.
 *
 * Requests: connect {host, port, path, token, clients, concurrency, mode, fixedMs} → {connected, ms};
 * mark → {} (reconnect times are counted from here); stats → {open, reopenedMs[], refused, unavailable}.
 */

interface Client {
  open: boolean;
  retryMs: number;
}

let target = { host: '127.0.0.1', port: 0, path: '', token: '' };
let mode: 'hint' | 'fixed' = 'hint';
let fixedMs = 2_000;
let closing = false;
const clients: Client[] = [];
let markAt = 0;
/** Times (ms after the mark) at which a stream opened again. */
let reopened: number[] = [];
let refused = 0;
let unavailable = 0;

/** One attempt: resolves true once the stream is open, false when it failed (then `waitMs` says how long to wait). */
function attempt(client: Client, onClosed: () => void): Promise<{ ok: boolean; waitMs: number }> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    let pending = '';
    let headersDone = false;
    let settled = false;
    const settle = (ok: boolean, waitMs: number) => {
      if (settled) return;
      settled = true;
      resolve({ ok, waitMs });
    };
    socket.setEncoding('latin1');
    socket.once('connect', () => {
      socket.write(
        `GET ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nAuthorization: Bearer ${target.token}\r\nAccept: text/event-stream\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: string) => {
      pending += chunk;
      if (!headersDone) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = pending.slice(0, end);
        if (!head.startsWith('HTTP/1.1 200')) {
          const retryAfter = /\r\nretry-after:\s*(\d+)/i.exec(head)?.[1];
          if (head.startsWith('HTTP/1.1 503')) unavailable++;
          socket.destroy();
          settle(false, retryAfter === undefined ? client.retryMs : Number(retryAfter) * 1000);
          return;
        }
        headersDone = true;
        pending = pending.slice(end + 4);
      }
      if (!client.open) {
        const hint = /retry: (\d+)/.exec(pending)?.[1];
        if (hint === undefined) return;
        client.retryMs = mode === 'hint' ? Number(hint) : fixedMs;
        client.open = true;
        pending = '';
        settle(true, 0);
      } else {
        pending = '';
      }
    });
    socket.on('error', () => {
      if (!headersDone) refused++;
      settle(false, client.retryMs);
    });
    socket.on('close', () => {
      settle(false, client.retryMs);
      if (client.open) {
        client.open = false;
        onClosed();
      }
    });
  });
}

/** Keeps one client connected for the life of this process, EventSource-style. */
async function keep(client: Client, opened: () => void): Promise<void> {
  let wake: (() => void) | undefined;
  const onClosed = () => wake?.();
  while (!closing) {
    const { ok, waitMs } = await attempt(client, onClosed);
    if (ok) {
      opened();
      if (markAt > 0) reopened.push(performance.now() - markAt);
      await new Promise<void>((r) => {
        wake = r;
        if (!client.open) r();
      });
      wake = undefined;
    }
    if (!closing) await sleep(ok ? client.retryMs : waitMs);
  }
}

async function connectAll(message: Record<string, unknown>): Promise<Record<string, unknown>> {
  const m = message as {
    host: string;
    port: number;
    path: string;
    token: string;
    clients: number;
    concurrency: number;
    mode: 'hint' | 'fixed';
    fixedMs: number;
  };
  target = { host: m.host, port: m.port, path: m.path, token: m.token };
  mode = m.mode;
  fixedMs = m.fixedMs;
  const started = performance.now();
  let connected = 0;
  let next = 0;
  // The first connections go `concurrency` at a time; each client then lives on by itself.
  const lane = async () => {
    while (next < m.clients) {
      next++;
      const client: Client = { open: false, retryMs: fixedMs };
      clients.push(client);
      await new Promise<void>((resolve) => {
        void keep(client, () => {
          connected++;
          resolve();
        });
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(m.concurrency, m.clients) }, lane));
  return { connected, ms: performance.now() - started };
}

serveRequests(
  async (message) => {
    switch (message.cmd) {
      case 'connect':
        return connectAll(message);
      case 'mark':
        markAt = performance.now();
        reopened = [];
        refused = 0;
        unavailable = 0;
        return {};
      case 'stats':
        return { open: clients.filter((c) => c.open).length, reopenedMs: reopened, refused, unavailable };
      default:
        throw new Error(`unknown command ${String(message.cmd)}`);
    }
  },
  async () => {
    closing = true;
  },
);

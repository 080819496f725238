import { connect } from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { useProjectApp } from '../../helpers/app-fixture.js';
import { json } from '../../helpers/factories.js';
import { until } from '../../helpers/wait.js';

const ctx = useProjectApp({ REDIS_URL: inject('redisUrl') }, { owner: 'Owner', project: 'Wire' });

async function createOperation(): Promise<string> {
  const res = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations`, json(ctx.owner, { kind: 'agent_run', input: {} }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const eventsPath = (op: string) => `/api/v1/projects/${ctx.project.id}/operations/${op}/events`;

/** A bare HTTP/1.1 client: what the server sends, byte for byte, and whether it closed the connection. */
function rawGet(path: string, headers: Record<string, string>): { text: () => string; ended: Promise<void> } {
  const { port } = new URL(ctx.server.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join('')}\r\n`);
  return { text: () => received, ended: new Promise((resolve) => socket.once('end', () => resolve())) };
}

describe('the event stream on the wire (docs/adr/0025)', () => {
  it('is a close-delimited body: no chunk framing, Connection: close, frames verbatim, and the server closes after the terminal event', async () => {
    const op = await createOperation();
    const client = rawGet(eventsPath(op), { ...ctx.owner.auth, accept: 'text/event-stream' });
    await until(() => /\r\n\r\nretry: \d+\n\n/.test(client.text()));
    for (const body of [
      { type: 'progress', data: { n: 1 } },
      { type: 'done', status: 'completed' },
    ]) {
      expect((await ctx.server.request(eventsPath(op), json(ctx.owner, body))).status).toBe(202);
    }
    await client.ended;
    const text = client.text();
    const headEnd = text.indexOf('\r\n\r\n');
    const head = text.slice(0, headEnd);
    const body = text.slice(headEnd + 4);
    expect(head.startsWith('HTTP/1.1 200')).toBe(true);
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
    expect(head.toLowerCase()).not.toContain('content-length');
    expect(head.toLowerCase()).toContain('connection: close');
    expect(head.toLowerCase()).toContain('content-type: text/event-stream; charset=utf-8');
    expect(body).toMatch(/^retry: \d+\n\nid: 1\nevent: progress\ndata: \{"id":1,/);
    expect(body).toMatch(/\nid: 2\nevent: done\ndata: \{"id":2,[^\n]*"status":"completed"[^\n]*\}\n\n$/);
  });
});

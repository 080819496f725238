import { describe, expect, it } from 'vitest';
import { SseHub } from '../../../src/streaming/sse-hub.js';
import { until } from '../../helpers/wait.js';
import { FakeSocket } from './stream-fakes.js';

/** A FakeSocket that counts the writes that reach it; like a net.Socket it takes a corked batch in one `_writev`. */
class CountingSocket extends FakeSocket {
  flushes = 0;

  override _write(chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.flushes++;
    super._write(chunk, encoding, callback);
  }

  override _writev(_chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    this.flushes++;
    callback();
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SseHub: one write batch per tick (docs/adr/0025)', () => {
  it('when several frames go to each of many streams in one tick, each socket gets them in one write, in order', async () => {
    const hub = new SseHub(60_000, 1024 * 1024);
    const sockets = Array.from({ length: 50 }, () => new CountingSocket());
    const connections = sockets.map((socket) => hub.connect(socket, () => undefined));
    for (let id = 1; id <= 3; id++) for (const connection of connections) connection.deliver(`id: ${id}\ndata: {}\n\n`);
    expect(sockets.every((s) => s.flushes === 0)).toBe(true);
    await tick();
    expect(sockets.every((s) => s.flushes === 1)).toBe(true);
    expect(sockets.every((s) => s.ids.join() === '1,2,3')).toBe(true);
    hub.closeAll('shutdown');
  });

  it('when a stream closes with frames still corked in its tick, they reach the client before the end', async () => {
    const hub = new SseHub(60_000, 1024 * 1024);
    const socket = new CountingSocket();
    const connection = hub.connect(socket, () => undefined);
    connection.deliver('id: 1\ndata: {}\n\n');
    connection.close('completed');
    await tick();
    expect(socket.writableFinished).toBe(true);
    expect(socket.flushes).toBe(1);
  });
});

describe('SseHub: keepalive sweep', () => {
  it('after a silence, writes keepalive comments to every open stream', async () => {
    const hub = new SseHub(40, 10_000);
    const sockets = [new FakeSocket(), new FakeSocket()];
    for (const socket of sockets) hub.connect(socket, () => undefined);
    await until(() => sockets.every((s) => s.comments.length >= 2));
    expect(sockets.every((s) => s.comments.every((c) => c.trim() === 'keepalive'))).toBe(true);
    hub.closeAll('shutdown');
  });

  it('when a stream is written to more often than the keepalive period, sends it no keepalive; a silent one still gets them', async () => {
    const hub = new SseHub(80, 1024 * 1024);
    const busy = new FakeSocket();
    const silent = new FakeSocket();
    const busyConnection = hub.connect(busy, () => undefined);
    hub.connect(silent, () => undefined);
    for (let i = 1; i <= 12; i++) {
      busyConnection.deliver(`id: ${i}\ndata: {}\n\n`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(silent.comments.length).toBeGreaterThanOrEqual(2);
    expect(busy.comments).toEqual([]);
    hub.closeAll('shutdown');
  });

  it('when the last stream closes, stops sweeping (no timer left behind)', async () => {
    const hub = new SseHub(20, 10_000);
    const socket = new FakeSocket();
    const connection = hub.connect(socket, () => undefined);
    await until(() => socket.comments.length >= 1);
    connection.close('shutdown');
    const sweeps = hub.sweeps;
    await new Promise((r) => setTimeout(r, 60));
    expect(hub.sweeps).toBe(sweeps);
  });
});

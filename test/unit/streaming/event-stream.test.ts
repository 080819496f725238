import { describe, expect, it } from 'vitest';
import { EventStream, type EventStreamSpec, resetFor } from '../../../src/streaming/event-stream.js';
import type { CloseReason, SseConnection } from '../../../src/streaming/sse-connection.js';
import { SseHub } from '../../../src/streaming/sse-hub.js';
import { until } from '../../helpers/wait.js';
import { FakeSocket, frame, MemoryLog, type TestEvent } from './stream-fakes.js';

interface Opened {
  readonly stream: EventStream<TestEvent>;
  readonly socket: FakeSocket;
  readonly connection: SseConnection;
  readonly closed: CloseReason[];
  readonly running: Promise<void>;
}

async function open(log: MemoryLog, spec: Partial<EventStreamSpec<TestEvent>> = {}, socket = new FakeSocket()): Promise<Opened> {
  const stream = new EventStream<TestEvent>({
    history: log.history,
    live: log.live,
    isTerminal: (e) => e.terminal === true,
    frame,
    afterId: 0,
    ...spec,
  });
  await stream.prepare();
  const closed: CloseReason[] = [];
  const connection = new SseHub(60_000, 1024 * 1024).connect(socket, (reason) => {
    closed.push(reason);
    stream.release();
  });
  const running = stream.run(connection);
  return { stream, socket, connection, closed, running };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('EventStream: replay, then live', () => {
  it('when events exist before and after it opens, sends each once, in order', async () => {
    const log = new MemoryLog();
    for (let i = 0; i < 3; i++) log.append('before');
    const { socket, connection, running } = await open(log);
    await running;
    log.append('after');
    log.append('after');
    expect(socket.ids).toEqual([1, 2, 3, 4, 5]);
    connection.close('shutdown');
  });

  it('when resuming after an id, replays only what follows it', async () => {
    const log = new MemoryLog();
    for (let i = 0; i < 6; i++) log.append('e');
    const { socket, running } = await open(log, { afterId: 4 });
    await running;
    expect(socket.ids).toEqual([5, 6]);
  });

  it('when live events arrive while the history read is in flight (the seam), sends each exactly once', async () => {
    const log = new MemoryLog();
    for (let i = 0; i < 3; i++) log.append('old');
    log.holdReads();
    const { socket, running } = await open(log, { afterId: 1 });
    await until(() => log.readsWaiting === 1);
    // Committed and fanned out while the replay's read has not answered: the read will
    // return them too, and the live copies wait in the stream's buffer.
    log.append('during');
    log.append('during');
    log.releaseReads();
    await running;
    log.append('after');
    expect(socket.ids).toEqual([2, 3, 4, 5, 6]);
  });

  it('when a live event skips ids (a lost or reordered publish), fills the gap from the history', async () => {
    const log = new MemoryLog();
    log.append('a');
    const { socket, running } = await open(log);
    await running;
    log.append('lost', { silent: true }); // committed, its publish never arrived
    log.append('c');
    await until(() => socket.ids.length === 3);
    log.fanOut({ id: 2, type: 'lost' }); // the late copy is a duplicate by then
    log.append('d');
    expect(socket.ids).toEqual([1, 2, 3, 4]);
  });

  it('when live events arrive after the history read took its snapshot, sends them after the replay', async () => {
    const log = new MemoryLog();
    log.append('a');
    log.holdReads('early');
    const { socket, running } = await open(log);
    await until(() => log.readsWaiting === 1);
    log.append('b');
    log.append('c');
    log.releaseReads();
    await running;
    expect(socket.ids).toEqual([1, 2, 3]);
  });

  it('when the history cannot be read to fill a gap, ends the stream (the client resumes) instead of skipping it', async () => {
    const log = new MemoryLog();
    log.append('a');
    const { socket, closed, running } = await open(log);
    await running;
    log.history.page = () => Promise.reject(new Error('database gone'));
    log.append('lost', { silent: true });
    log.append('c');
    await until(() => closed.length === 1);
    expect(closed).toEqual(['failed']);
    expect(socket.ids).toEqual([1]);
  });

  it('when more live events arrive during a replay than it holds, re-reads them from the history', async () => {
    const log = new MemoryLog();
    log.append('a');
    log.holdReads('early');
    const { socket, running } = await open(log, { maxPending: 2 });
    await until(() => log.readsWaiting === 1);
    for (let i = 0; i < 10; i++) log.append('burst');
    log.releaseReads();
    await running;
    expect(socket.ids).toEqual(range(1, 11));
  });

  it('after an event with a terminal status, ends the stream and lets go of the subscription', async () => {
    const log = new MemoryLog();
    const { socket, closed, running } = await open(log);
    await running;
    log.append('progress');
    log.append('done', { terminal: true });
    log.append('late');
    expect(socket.ids).toEqual([1, 2]);
    expect(closed).toEqual(['completed']);
    expect(log.listeners.size).toBe(0);
  });

  it('when the subject had already ended, replays what is retained and ends', async () => {
    const log = new MemoryLog();
    log.append('a');
    const { socket, closed, running } = await open(log, { endedBefore: true });
    await running;
    expect(socket.ids).toEqual([1]);
    expect(closed).toEqual(['completed']);
  });
});

describe('EventStream: reset', () => {
  it('when the id asked for is older than the retained history, sends reset with the oldest id first', async () => {
    const log = new MemoryLog();
    for (let i = 0; i < 10; i++) log.append('e');
    log.trimTo(6);
    const { socket, running } = await open(log, { afterId: 2 });
    await running;
    expect(socket.events[0]).toMatchObject({ event: 'reset', data: '{"oldest_id":"6"}', id: undefined });
    expect(socket.ids).toEqual([6, 7, 8, 9, 10]);
  });

  it('when the id asked for is beyond the newest, sends reset and replays from the start', async () => {
    const log = new MemoryLog();
    for (let i = 0; i < 3; i++) log.append('e');
    const { socket, running } = await open(log, { afterId: 50 });
    await running;
    log.append('next');
    expect(socket.events[0]).toMatchObject({ event: 'reset', data: '{"oldest_id":"1"}' });
    expect(socket.ids).toEqual([1, 2, 3, 4]);
  });

  it.each([
    [0, { oldestId: null, newestId: 0 }, null],
    [3, { oldestId: 1, newestId: 3 }, null],
    [4, { oldestId: 5, newestId: 9 }, null],
    [3, { oldestId: 5, newestId: 9 }, { oldest_id: '5' }],
    [10, { oldestId: 5, newestId: 9 }, { oldest_id: '5' }],
    [1, { oldestId: null, newestId: 0 }, { oldest_id: '1' }],
  ])('resetFor(%s, %o) is %o', (afterId, bounds, expected) => {
    expect(resetFor(afterId, bounds)).toEqual(expected);
  });
});

describe('EventStream: memory', () => {
  it('reads the next history page only when the socket has taken the previous one', async () => {
    const log = new MemoryLog();
    for (let i = 0; i < 200; i++) log.append('e');
    // A page of 20 frames (~40 bytes each) is more than the socket's 512-byte high-water mark.
    const socket = new FakeSocket(512);
    socket.pauseReading();
    const { running } = await open(log, { pageSize: 20 }, socket);
    await until(() => socket.writableNeedDrain);
    await new Promise((r) => setTimeout(r, 20));
    expect(log.pageCalls).toBe(1);
    socket.resumeReading();
    await running;
    expect(log.pageCalls).toBe(11);
    expect(socket.ids).toEqual(range(1, 200));
  });

  it('when the subscription or the history cannot be read, fails before anything is sent and holds nothing', async () => {
    const log = new MemoryLog();
    const stream = new EventStream<TestEvent>({
      history: { ...log.history, bounds: () => Promise.reject(new Error('database gone')) },
      live: log.live,
      isTerminal: () => false,
      frame,
      afterId: 0,
    });
    await expect(stream.prepare()).rejects.toThrow('database gone');
    expect(log.listeners.size).toBe(0);
  });
});

describe('SseConnection', () => {
  it('when the client does not read past the buffer cap, drops its socket', async () => {
    const socket = new FakeSocket(1024);
    socket.pauseReading();
    const closed: CloseReason[] = [];
    const connection = new SseHub(60_000, 10_000).connect(socket, (r) => closed.push(r));
    for (let i = 0; i < 20 && !connection.isClosed; i++) connection.write(`data: ${'x'.repeat(1000)}\n\n`);
    expect(closed).toEqual(['slow_client']);
    expect(socket.destroyed).toBe(true);
  });

  it('after a silence, writes keepalive comments', async () => {
    const socket = new FakeSocket();
    const connection = new SseHub(20, 10_000).connect(socket, () => undefined);
    await until(() => socket.comments.length >= 2);
    expect(socket.comments.every((c) => c.trim() === 'keepalive')).toBe(true);
    connection.close('shutdown');
  });
});

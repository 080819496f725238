import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { EventStream, type HistorySource, type LiveSource } from '../../../src/streaming/event-stream.js';
import { type ClientSocketState, StreamLifetime } from '../../../src/streaming/stream-lifetime.js';
import { until } from '../../helpers/wait.js';
import { frame, MemoryLog, type TestEvent } from './stream-fakes.js';

/** A response's socket side: `destroyed` and `close`, as Node's ServerResponse has them. */
class FakeResponse extends EventEmitter implements ClientSocketState {
  destroyed = false;

  leave(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

function gate(): { readonly wait: Promise<void>; readonly open: () => void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { wait: promise, open: () => resolve() };
}

/** The durable history with its bounds read held until the test opens the gate. */
function heldBounds(log: MemoryLog, held: Promise<void>): HistorySource<TestEvent> & { calls: number } {
  const source = {
    calls: 0,
    bounds: async () => {
      source.calls += 1;
      await held;
      return log.history.bounds();
    },
    page: log.history.page,
  };
  return source;
}

function streamOver(history: HistorySource<TestEvent>, live: LiveSource<TestEvent>) {
  return new EventStream<TestEvent>({ history, live, isTerminal: (e) => e.terminal === true, frame, afterId: 0 });
}

describe('StreamLifetime', () => {
  it('when the client leaves while the history bounds are being read, releases the subscription at once, not when the read ends', async () => {
    const log = new MemoryLog();
    const res = new FakeResponse();
    const lifetime = new StreamLifetime(res);
    const held = gate();
    const history = heldBounds(log, held.wait);
    const preparing = streamOver(history, lifetime.bind(log.live)).prepare();
    await until(() => history.calls === 1 && log.listeners.size === 1);

    res.leave();
    expect(log.listeners.size).toBe(0);
    expect(lifetime.ended).toBe(true);

    held.open();
    await preparing;
    expect(log.listeners.size).toBe(0);
  });

  it('when the client leaves while the subscription is being acknowledged, releases it as soon as it is', async () => {
    const log = new MemoryLog();
    const res = new FakeResponse();
    const lifetime = new StreamLifetime(res);
    const acknowledged = gate();
    let subscribing = 0;
    const slowLive: LiveSource<TestEvent> = {
      subscribe: async (listener) => {
        subscribing += 1;
        const release = await log.live.subscribe(listener);
        await acknowledged.wait;
        return release;
      },
    };
    const subscribed = lifetime.bind(slowLive).subscribe(() => undefined);
    await until(() => subscribing === 1);
    res.leave();
    acknowledged.open();
    await subscribed;
    expect(log.listeners.size).toBe(0);
  });

  it('when the socket was already gone before the handler ran (its close event long fired), is ended from the start', async () => {
    const log = new MemoryLog();
    const res = new FakeResponse();
    res.leave();
    const lifetime = new StreamLifetime(res);
    expect(lifetime.ended).toBe(true);
    await lifetime.bind(log.live).subscribe(() => undefined);
    expect(log.listeners.size).toBe(0);
  });

  it('while the client stays, holds the subscription; end() releases it once, and the early release is idempotent', async () => {
    const log = new MemoryLog();
    const res = new FakeResponse();
    const lifetime = new StreamLifetime(res);
    const release = await lifetime.bind(log.live).subscribe(() => undefined);
    expect(log.listeners.size).toBe(1);
    let released = 0;
    const early = lifetime.hold(() => {
      released += 1;
    });
    early();
    lifetime.end();
    res.leave();
    release();
    expect(released).toBe(1);
    expect(log.listeners.size).toBe(0);
    expect(res.listenerCount('close')).toBe(0);
  });
});

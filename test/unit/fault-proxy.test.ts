import { createServer, type Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';

/** The soak's TCP fault proxy (test/helpers/fault-proxy.ts) against a loopback echo server. */
let echo: Server;
let proxy: FaultProxy;

beforeAll(async () => {
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const address = echo.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  proxy = await FaultProxy.start({ host: '127.0.0.1', port: address.port });
});

afterAll(async () => {
  await proxy.stop();
  await new Promise((r) => echo.close(r));
});

function connect(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    s.once('error', reject);
    s.connect(proxy.port, '127.0.0.1', () => resolve(s));
  });
}

/** Sends `text` and resolves with the echo and how long the round trip took (null after `waitMs` without it). */
function roundTrip(s: Socket, text: string, waitMs = 2_000): Promise<{ echoed: string; ms: number } | null> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let got = '';
    const timer = setTimeout(() => resolve(null), waitMs);
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve({ echoed: got, ms: performance.now() - t0 });
      }
    };
    s.on('data', onData);
    s.write(text);
  });
}

describe('FaultProxy', () => {
  it('in pass mode forwards at once; with latency each direction waits, in order; hung forwards nothing; cut resets', async () => {
    const s = await connect();
    proxy.setMode({ kind: 'pass' });
    const fast = await roundTrip(s, 'hello');
    expect(fast?.echoed).toBe('hello');

    proxy.setMode({ kind: 'latency', ms: 150 });
    const slow = await roundTrip(s, 'abc');
    expect(slow?.echoed).toBe('abc');
    // There and back: two delays.
    expect(slow?.ms).toBeGreaterThanOrEqual(290);

    const pieces = await new Promise<string>((resolve) => {
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.length >= 6) resolve(got);
      });
      for (const p of ['1', '2', '3', '4', '5', '6']) s.write(p);
    });
    expect(pieces).toBe('123456');
    s.removeAllListeners('data');

    proxy.setMode({ kind: 'hang' });
    expect(await roundTrip(s, 'lost', 500)).toBeNull();

    proxy.setMode({ kind: 'pass' });
    const closed = new Promise((r) => s.once('close', r));
    proxy.cut();
    await closed;
    expect(proxy.connections).toBe(0);
  });
});

import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startApp } from '../../helpers/build-app.js';
import { createTestDatabase } from '../../helpers/database.js';

/** A TCP connection to the app that has sent nothing (what an HTTP client's pool may hold open). */
async function silentConnection(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

async function within<T>(ms: number, promise: Promise<T>): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('app.close() with open connections (src/plugins/http/graceful-close.ts)', () => {
  it('when a client holds connections that never sent a request, close() still returns at once and drops them', async () => {
    const db = await createTestDatabase();
    try {
      const running = await startApp({ DATABASE_URL: db.url });
      const port = Number(new URL(running.baseUrl).port);
      expect((await running.request('/api/v1/health/live')).status).toBe(200); // one idle keep-alive connection too
      const silent = await Promise.all([silentConnection(port), silentConnection(port), silentConnection(port)]);
      const dropped = silent.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
      // Node's server.close() alone waits for these until the client gives up (here: never).
      expect(await within(5_000, running.close())).toBeUndefined();
      await Promise.all(dropped);
      for (const s of silent) s.destroy();
    } finally {
      await db.drop();
    }
  });
});

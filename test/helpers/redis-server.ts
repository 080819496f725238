import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './server-process.js';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly stop: () => Promise<void>;
  readonly start: () => Promise<void>;
}

function ensureBinary(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'The Redis-backed tests need the redis-server program: install the Debian/Ubuntu package ' +
        '"redis-server" (apt-get install redis-server), or set REDIS_URL to a Redis you can spare.',
    );
  }
}

async function waitUntilReady(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return;
    } catch {
      client.disconnect();
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`redis-server on port ${port} did not become ready`);
}

/**
 * A redis-server of the test's own on a free port, without persistence, that the test can
 * stop and start again on the same port (fault tests).
 */
export async function startRedisServer(): Promise<RedisServer> {
  ensureBinary();
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await waitUntilReady(port);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}

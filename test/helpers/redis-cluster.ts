import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { until } from './wait.js';

const run = promisify(execFile);

/** How long a silent node counts as failing (the cluster's failure detection; failover follows it). */
export const NODE_TIMEOUT_MS = 1_000;

export interface ClusterNode {
  readonly port: number;
  readonly running: boolean;
}

export interface RedisCluster {
  /** REDIS_URL for the app: every node as a seed (docs/adr/0027). */
  readonly url: string;
  readonly nodes: readonly ClusterNode[];
  /** The port of the master that owns `key`'s slot now (asked of a running node). */
  readonly masterOf: (key: string) => Promise<number>;
  /** SIGKILL the node on `port` (its process only; the cluster notices after NODE_TIMEOUT_MS). */
  readonly kill: (port: number) => Promise<void>;
  /** Starts the node on `port` again with its own nodes.conf: it rejoins (as a replica if it was failed over). */
  readonly restart: (port: number) => Promise<void>;
  /** Resolves when every running node reports cluster_state:ok and every slot has a reachable master. */
  readonly waitHealthy: (timeoutMs?: number) => Promise<void>;
  /** A plain connection to a running node (the caller disconnects it). */
  readonly client: (port: number) => Redis;
  readonly stop: () => Promise<void>;
}

/** A loopback port free for the node and for its cluster bus (port + 10000). */
async function freeNodePort(taken: ReadonlySet<number>): Promise<number> {
  const canListen = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

async function ping(port: number): Promise<boolean> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * A real Redis Cluster of the test's own: `masters` masters (and one replica each with
 * `replicas: true`) of `redis-server --cluster-enabled yes` on free loopback ports, each in a
 * world-readable temporary directory, joined with `redis-cli --cluster create`. No persistence;
 * `cluster-require-full-coverage no`, so a dead shard fails only its own slots (docs/adr/0027).
 */
export async function startRedisCluster(options: { masters?: number; replicas?: boolean } = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const count = options.replicas ? masters * 2 : masters;
  const root = mkdtempSync(join(tmpdir(), 'jeex-cluster-'));
  chmodSync(root, 0o755);
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freeNodePort(taken);
    taken.add(port);
    taken.add(port + 10_000);
    ports.push(port);
  }
  const children = new Map<number, ChildProcess>();

  const start = async (port: number) => {
    const dir = join(root, String(port));
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--protected-mode',
        'no',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
        '--cluster-require-full-coverage',
        'no',
        // A replica may always take over (the bus keeps no data in Redis: nothing to lose), and pings its master each second.
        '--cluster-replica-validity-factor',
        '0',
        '--repl-ping-replica-period',
        '1',
        '--logfile',
        join(dir, 'redis.log'),
      ],
      { stdio: 'ignore' },
    );
    children.set(port, child);
    await until(() => ping(port), 10_000, 20);
  };

  const running = (port: number) => {
    const c = children.get(port);
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  };

  const anyRunning = () => {
    const port = ports.find(running);
    if (port === undefined) throw new Error('no cluster node is running');
    return port;
  };

  const client = (port: number) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => null });

  const kill = async (port: number) => {
    const c = children.get(port);
    if (!c || !running(port)) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };

  /** `cluster nodes` of a running node: its view of who serves which slots. */
  const view = async (port: number) => {
    const redis = client(port);
    try {
      const text = (await redis.call('CLUSTER', 'NODES')) as string;
      const info = (await redis.call('CLUSTER', 'INFO')) as string;
      return { text, ok: /cluster_state:ok/.test(info) };
    } finally {
      redis.disconnect();
    }
  };

  const waitHealthy = async (timeoutMs = 20_000) => {
    let last = '';
    const healthy = async () => {
      for (const port of ports.filter(running)) {
        const { text, ok } = await view(port).catch((error: Error) => ({ text: error.message, ok: false }));
        last = `node ${port}: ${ok ? 'ok' : 'not ok'}\n${text}`;
        if (!ok) return false;
        // Every slot range must be served by a running master that is neither failing nor disconnected.
        const serving = text
          .split('\n')
          .map((line) => line.trim().split(' '))
          .filter((f) => (f[2] ?? '').includes('master') && f.length > 8);
        if (serving.length < masters) return false;
        const portOf = (address: string | undefined) => Number(/:(\d+)@/.exec(address ?? '')?.[1]);
        if (serving.some((f) => (f[2] ?? '').includes('fail') || f[7] !== 'connected' || !running(portOf(f[1])))) return false;
      }
      return true;
    };
    await until(healthy, timeoutMs, 100).catch((error: Error) => {
      throw new Error(`${error.message}; last view of the cluster:\n${last}`);
    });
  };

  const masterOf = async (key: string) => {
    const redis = client(anyRunning());
    try {
      const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
      const slots = (await redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`slot ${slot} has no master`);
      return Number(range[2][1]);
    } finally {
      redis.disconnect();
    }
  };

  const stop = async () => {
    await Promise.all(ports.map(kill));
    // JEEX_KEEP_CLUSTER_DIRS=1 keeps each node's redis.log and nodes.conf to read after a failure.
    if (process.env.JEEX_KEEP_CLUSTER_DIRS !== '1') rmSync(root, { recursive: true, force: true });
  };

  try {
    await Promise.all(ports.map(start));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      ...(options.replicas ? ['--cluster-replicas', '1'] : []),
      '--cluster-yes',
    ]);
    await waitHealthy();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    get nodes() {
      return ports.map((port) => ({ port, running: running(port) }));
    },
    masterOf,
    kill,
    restart: start,
    waitHealthy,
    client,
    stop,
  };
}

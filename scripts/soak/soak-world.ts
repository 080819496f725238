import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FaultProxy } from '../../test/helpers/fault-proxy.js';
import { type ControlledPostgres, startControlledPostgres } from '../../test/helpers/faults/controlled-postgres.js';
import { InstanceSet, sharedSigningKeys } from '../../test/helpers/multi-instance.js';
import { OtlpReceiver } from '../../test/helpers/otlp-receiver.js';
import { QdrantStandIn } from '../../test/helpers/qdrant-stand-in.js';
import { startRedisCluster } from '../../test/helpers/redis-cluster.js';
import { startRedisServer } from '../../test/helpers/redis-server.js';
import { freePort, spawnServer } from '../../test/helpers/server-process.js';

/**
 * Everything the soak runs against (docs/adr/0028): its own PostgreSQL behind a TCP fault proxy,
 * Redis (one redis-server behind a proxy, or a Redis Cluster), a Qdrant stand-in, an OTLP collector that can hang, and N API instances as
 * production starts them (NODE_ENV=production, telemetry on).
 */
/** The Redis side: one redis-server behind a fault proxy, or a 3-master Redis Cluster (docs/adr/0027). */
export interface SoakRedis {
  readonly kind: 'single' | 'cluster';
  /** Kills a Redis process (a cluster: one master, at random), waits, starts it again; what it did. */
  readonly killOne: (downMs: number) => Promise<string>;
  /** Only for one redis-server: a cluster's nodes announce their own ports, so a proxy cannot stand in front. */
  readonly proxy: FaultProxy | undefined;
  readonly stop: () => Promise<void>;
}

export interface SoakWorld {
  readonly postgres: ControlledPostgres;
  readonly redis: SoakRedis;
  readonly pgProxy: FaultProxy;
  readonly collector: OtlpReceiver;
  readonly instances: InstanceSet;
  /** The environment the instances share (the token command uses it too). */
  readonly env: Readonly<Record<string, string>>;
  readonly dispose: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startSingleRedis(): Promise<{ redis: SoakRedis; url: string }> {
  const server = await startRedisServer();
  const proxy = await FaultProxy.start({ host: '127.0.0.1', port: server.port });
  return {
    url: proxy.rewrite(server.url),
    redis: {
      kind: 'single',
      proxy,
      killOne: async (downMs) => {
        await server.stop();
        await sleep(downMs);
        await server.start();
        return `Redis SIGKILL (no persistence: its data gone), down ${downMs} ms`;
      },
      stop: async () => {
        await proxy.stop();
        await server.stop();
      },
    },
  };
}

async function startClusterRedis(): Promise<{ redis: SoakRedis; url: string }> {
  const cluster = await startRedisCluster({ masters: 3 });
  return {
    url: cluster.url,
    redis: {
      kind: 'cluster',
      proxy: undefined,
      killOne: async (downMs) => {
        const ports = cluster.nodes.filter((n) => n.running).map((n) => n.port);
        const port = ports[Math.floor(Math.random() * ports.length)] ?? 0;
        await cluster.kill(port);
        await sleep(downMs);
        await cluster.restart(port);
        await cluster.waitHealthy(60_000);
        return `Redis Cluster master :${port} SIGKILL (no replica: its slots down), down ${downMs} ms, rejoined`;
      },
      stop: cluster.stop,
    },
  };
}

/** `redisKind` (SOAK_REDIS): `cluster` — a 3-master Redis Cluster without replicas — or `single`. */
export async function startSoakWorld(count: number, redisKind: 'single' | 'cluster'): Promise<SoakWorld> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-soak-'));
  const [postgres, { redis, url: redisUrl }, qdrant] = await Promise.all([
    startControlledPostgres(),
    redisKind === 'cluster' ? startClusterRedis() : startSingleRedis(),
    QdrantStandIn.start(),
  ]);
  const pgUrl = new URL(postgres.url);
  const pgProxy = await FaultProxy.start({ host: pgUrl.hostname, port: Number(pgUrl.port) });
  const collector = new OtlpReceiver(await freePort());
  await collector.start();
  const env = {
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    DATABASE_URL: pgProxy.rewrite(postgres.url),
    DATABASE_POOL_MIN: '2',
    DATABASE_POOL_MAX: '10',
    MIGRATE_ON_START: 'true',
    REDIS_URL: redisUrl,
    QDRANT_URL: qdrant.url,
    ...sharedSigningKeys(),
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '500',
    LOG_LEVEL: 'warn',
    // The limiter stays on (its Redis calls are part of every request) with room for the load.
    RATE_LIMIT_PER_MINUTE_IP: '1000000',
    RATE_LIMIT_PER_MINUTE_USER: '1000000',
    RATE_LIMIT_PER_MINUTE_PROJECT: '1000000',
  };
  const instances = await InstanceSet.start(count, env);
  return {
    postgres,
    redis,
    pgProxy,
    collector,
    instances,
    env,
    dispose: async () => {
      await instances.stop();
      await Promise.allSettled([collector.stop(), qdrant.stop(), pgProxy.stop()]);
      await redis.stop();
      await postgres.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A user and an access token through the operator's own command (`npm run token`). */
export async function issueUserToken(env: Readonly<Record<string, string>>, email: string): Promise<string> {
  const cli = spawnServer({ ...env }, 'src/cli/token.ts', ['--email', email]);
  const { code } = await cli.exited;
  const token = /eyJ[\w-]+\.[\w-]+\.[\w-]+/.exec(cli.stdout())?.[0];
  if (code !== 0 || !token) throw new Error(`token command failed (${code}): ${cli.stdout().slice(-2000)}`);
  return token;
}

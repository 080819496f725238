import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FaultProxy } from '../../test/helpers/fault-proxy.js';
import { type ControlledPostgres, startControlledPostgres } from '../../test/helpers/faults/controlled-postgres.js';
import { InstanceSet, sharedSigningKeys } from '../../test/helpers/multi-instance.js';
import { OtlpReceiver } from '../../test/helpers/otlp-receiver.js';
import { QdrantStandIn } from '../../test/helpers/qdrant-stand-in.js';
import { type RedisServer, startRedisServer } from '../../test/helpers/redis-server.js';
import { freePort, spawnServer } from '../../test/helpers/server-process.js';

/**
 * Everything the soak runs against (docs/adr/0028): its own PostgreSQL and Redis, each behind a
 * TCP fault proxy, a Qdrant stand-in, an OTLP collector that can hang, and N API instances as
 * production starts them (NODE_ENV=production, telemetry on).
 */
export interface SoakWorld {
  readonly postgres: ControlledPostgres;
  readonly redis: RedisServer;
  readonly pgProxy: FaultProxy;
  readonly redisProxy: FaultProxy;
  readonly collector: OtlpReceiver;
  readonly instances: InstanceSet;
  /** The environment the instances share (the token command uses it too). */
  readonly env: Readonly<Record<string, string>>;
  readonly dispose: () => Promise<void>;
}

export async function startSoakWorld(count: number): Promise<SoakWorld> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-soak-'));
  const [postgres, redis, qdrant] = await Promise.all([startControlledPostgres(), startRedisServer(), QdrantStandIn.start()]);
  const pgUrl = new URL(postgres.url);
  const [pgProxy, redisProxy] = await Promise.all([
    FaultProxy.start({ host: pgUrl.hostname, port: Number(pgUrl.port) }),
    FaultProxy.start({ host: '127.0.0.1', port: redis.port }),
  ]);
  const collector = new OtlpReceiver(await freePort());
  await collector.start();
  const env = {
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    DATABASE_URL: pgProxy.rewrite(postgres.url),
    DATABASE_POOL_MIN: '2',
    DATABASE_POOL_MAX: '10',
    MIGRATE_ON_START: 'true',
    REDIS_URL: redisProxy.rewrite(redis.url),
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
    redisProxy,
    collector,
    instances,
    env,
    dispose: async () => {
      await instances.stop();
      await Promise.allSettled([collector.stop(), qdrant.stop(), pgProxy.stop(), redisProxy.stop()]);
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

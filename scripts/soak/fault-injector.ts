import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultProxy } from '../../test/helpers/fault-proxy.js';
import type { SoakWorld } from './soak-world.js';

/** One fault: what it does, and when it returns the world is back (every instance ready). */
export interface Fault {
  readonly name: string;
  readonly inject: (world: SoakWorld) => Promise<string>;
}

/** How long a dependency stays down or slowed: long enough for every client to meet it. */
const DOWN_MS = 2_000;
const SLOW_MS = 8_000;
const LATENCY_MS = 80;
const HANG_MS = 5_000;

/** Polls readiness on every instance until all answer 200; the time it took. */
export async function untilAllReady(world: SoakWorld, timeoutMs = 90_000): Promise<number> {
  const t0 = performance.now();
  for (const instance of world.instances.instances) {
    for (;;) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`instance ${instance.port} not ready within ${timeoutMs} ms`);
      const res = await fetch(`${instance.base}/api/v1/health/ready`, { signal: AbortSignal.timeout(3_000) }).catch(() => null);
      await res?.arrayBuffer().catch(() => undefined);
      if (res?.status === 200) break;
      await sleep(100);
    }
  }
  return Math.round(performance.now() - t0);
}

type ProxyOf = (w: SoakWorld) => FaultProxy;
const pgProxy: ProxyOf = (w) => w.pgProxy;
const redisProxy: ProxyOf = (w) => {
  if (!w.redis.proxy) throw new Error('no proxy in front of a Redis Cluster');
  return w.redis.proxy;
};

/** A dependency's every connection slowed by LATENCY_MS each way for SLOW_MS. */
function latency(name: string, dependency: string, proxyOf: ProxyOf): Fault {
  return {
    name,
    inject: async (w) => {
      proxyOf(w).setMode({ kind: 'latency', ms: LATENCY_MS });
      await sleep(SLOW_MS);
      proxyOf(w).setMode({ kind: 'pass' });
      return `+${LATENCY_MS} ms each way on every ${dependency} connection for ${SLOW_MS} ms`;
    },
  };
}

/** Every connection to a dependency reset by the network at once. */
function cut(name: string, dependency: string, proxyOf: ProxyOf): Fault {
  return {
    name,
    inject: async (w) => {
      const connections = proxyOf(w).connections;
      proxyOf(w).cut();
      return `${connections} ${dependency} connections reset by the network; all ready ${await untilAllReady(w)} ms later`;
    },
  };
}

const FAULTS: readonly Fault[] = [
  {
    name: 'postgres restart',
    inject: async (w) => {
      await w.postgres.stop();
      await sleep(DOWN_MS);
      await w.postgres.start();
      return `PostgreSQL fast shutdown, down ${DOWN_MS} ms, all ready ${await untilAllReady(w)} ms after its start`;
    },
  },
  {
    name: 'redis kill',
    inject: async (w) => `${await w.redis.killOne(DOWN_MS)}; all ready ${await untilAllReady(w)} ms after its start`,
  },
  {
    name: 'collector hang',
    inject: async (w) => {
      const before = w.collector.requests;
      await w.collector.setMode('hang');
      await sleep(HANG_MS);
      await w.collector.setMode('ok');
      return `OTLP collector accepted and never answered ${w.collector.requests - before} exports for ${HANG_MS} ms`;
    },
  },
  latency('postgres latency', 'PostgreSQL', pgProxy),
  cut('postgres network cut', 'PostgreSQL', pgProxy),
];

/** Faults that need a proxy in front of Redis: only with one redis-server. */
const SINGLE_REDIS_FAULTS: readonly Fault[] = [
  latency('redis latency', 'Redis', redisProxy),
  cut('redis network cut', 'Redis', redisProxy),
];

/** Faults in a shuffled order, every kind once before any repeats, so a short soak still meets each. */
export function* faultSchedule(world: SoakWorld, random: () => number = Math.random): Generator<Fault> {
  const kinds = world.redis.kind === 'single' ? [...FAULTS, ...SINGLE_REDIS_FAULTS] : FAULTS;
  for (;;) {
    const round = [...kinds];
    for (let i = round.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [round[i], round[j]] = [round[j] as Fault, round[i] as Fault];
    }
    yield* round;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
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

export const FAULTS: readonly Fault[] = [
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
    inject: async (w) => {
      await w.redis.stop();
      await sleep(DOWN_MS);
      await w.redis.start();
      return `Redis SIGKILL (no persistence: its data gone), down ${DOWN_MS} ms, all ready ${await untilAllReady(w)} ms after its start`;
    },
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
  {
    name: 'postgres latency',
    inject: async (w) => {
      w.pgProxy.setMode({ kind: 'latency', ms: LATENCY_MS });
      await sleep(SLOW_MS);
      w.pgProxy.setMode({ kind: 'pass' });
      return `+${LATENCY_MS} ms each way on every PostgreSQL connection for ${SLOW_MS} ms`;
    },
  },
  {
    name: 'redis latency',
    inject: async (w) => {
      w.redisProxy.setMode({ kind: 'latency', ms: LATENCY_MS });
      await sleep(SLOW_MS);
      w.redisProxy.setMode({ kind: 'pass' });
      return `+${LATENCY_MS} ms each way on every Redis connection for ${SLOW_MS} ms`;
    },
  },
  {
    name: 'postgres network cut',
    inject: async (w) => {
      const cut = w.pgProxy.connections;
      w.pgProxy.cut();
      return `${cut} PostgreSQL connections reset by the network; all ready ${await untilAllReady(w)} ms later`;
    },
  },
  {
    name: 'redis network cut',
    inject: async (w) => {
      const cut = w.redisProxy.connections;
      w.redisProxy.cut();
      return `${cut} Redis connections reset by the network; all ready ${await untilAllReady(w)} ms later`;
    },
  },
];

/** Faults in a shuffled order, every kind once before any repeats, so a short soak still meets each. */
export function* faultSchedule(random: () => number = Math.random): Generator<Fault> {
  for (;;) {
    const round = [...FAULTS];
    for (let i = round.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [round[i], round[j]] = [round[j] as Fault, round[i] as Fault];
    }
    yield* round;
  }
}

import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/lib/free-port.js';
import type { LoadTarget } from '../lib/load.js';
import { type CommandStat, commandStats, startRedis } from '../lib/redis.js';
import { startServer } from '../lib/server-process.js';
import { fixed, int } from './context.js';

/**
 * What a load target needs beside its server, started before it and stopped after it: its
 * own redis-server, its own OTLP receiver. Each target gets its own, so that what they count
 * (Redis commands, spans) belongs to that target's requests alone.
 */
export interface TargetResources {
  /** Config variables for the app (bench/servers/app.ts BENCH_APP_ENV). */
  readonly appEnv?: Readonly<Record<string, string>>;
  /** Process environment of the server (OTEL_* are read by the preload from there). */
  readonly env?: Readonly<Record<string, string>>;
  /** Processes whose CPU counts as the server's (the target's own redis-server). */
  readonly companionPids?: readonly number[];
  /** Right before the load (after every target's check request): zero the counters. */
  readonly beforeLoad?: (target: LoadTarget) => Promise<void>;
  /** After the load, with the requests the target answered under it: table cells and notes. */
  readonly afterLoad?: (served: number) => Promise<ResourceReport>;
  readonly stop: () => Promise<void>;
}

export interface ResourceReport {
  /** Column header → this target's cell. */
  readonly cells?: Readonly<Record<string, string>>;
  readonly notes?: readonly string[];
}

export const REDIS_COLUMN = 'Redis round trips / commands per request';
export const SPANS_COLUMN = 'spans per request';

/** Our own queries (redis-cli INFO, CLIENT LIST) are not the app's. */
const OWN_COMMANDS = new Set(['info', 'client|list', 'client', 'ping']);
/** Commands that are one round trip each however many commands they run inside Redis. */
const SCRIPT_CALLS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro']);

/** A redis-server for this target alone; reports the commands its requests caused. */
export function ownRedis(label: string): () => Promise<TargetResources> {
  return async () => {
    const redis = await startRedis();
    let before = new Map<string, CommandStat>();
    return {
      appEnv: { REDIS_URL: redis.url },
      companionPids: [redis.pid],
      beforeLoad: async () => {
        before = await commandStats(redis);
      },
      afterLoad: async (served) => {
        const after = await commandStats(redis);
        const delta = [...after]
          .map(([name, stat]) => [name, stat.calls - (before.get(name)?.calls ?? 0), stat.usec - (before.get(name)?.usec ?? 0)] as const)
          .filter(([name, calls]) => calls > 0 && !OWN_COMMANDS.has(name))
          .sort((a, b) => b[1] - a[1]);
        const total = delta.reduce((s, [, calls]) => s + calls, 0);
        const scriptRows = delta.filter(([name]) => SCRIPT_CALLS.has(name));
        const scripts = scriptRows.reduce((s, [, calls]) => s + calls, 0);
        const scriptUsec = scriptRows.reduce((s, [, , usec]) => s + usec, 0);
        const per = (n: number) => (served > 0 ? n / served : 0);
        return {
          cells: { [REDIS_COLUMN]: `${fixed(per(scripts), 2)} / ${fixed(per(total), 2)}` },
          notes:
            total === 0
              ? [`- ${label}: no Redis command during the load (${int(served)} requests).`]
              : [
                  `- ${label}: Redis \`INFO commandstats\` over the load, per request (${int(served)} requests): ` +
                    `${delta.map(([name, calls]) => `${name} ${fixed(per(calls), 2)}`).join(', ')}. ` +
                    `Round trips = script calls (${scriptRows.map(([n]) => n).join(', ') || 'none'}); the other commands ran inside the script` +
                    `${scripts > 0 ? `, which took Redis ${fixed(scriptUsec / scripts)} µs per call (its own commandstats)` : ''}.`,
                ],
        };
      },
      stop: () => redis.stop(),
    };
  };
}

interface ReceiverStats {
  readonly spans: number;
  readonly traceExports: number;
  readonly metricExports: number;
}

/** Waits until the receiver's span count stops moving (the BatchSpanProcessor exports every second). */
async function settledStats(url: string): Promise<ReceiverStats> {
  let last = (await (await fetch(`${url}/stats`)).json()) as ReceiverStats;
  let stableSince = performance.now();
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline && performance.now() - stableSince < 2_500) {
    await sleep(250);
    const now = (await (await fetch(`${url}/stats`)).json()) as ReceiverStats;
    if (now.spans !== last.spans) stableSince = performance.now();
    last = now;
  }
  return last;
}

async function reset(url: string): Promise<void> {
  await fetch(`${url}/reset`, { method: 'POST' });
}

/**
 * An OTLP receiver for this target alone (bench/servers/otlp-receiver.ts, its own process).
 * With `probeOne`, one request is sent alone before the load and its spans counted: the
 * span set of one request, to compare with what arrives per request under load (fewer means
 * spans were dropped on the way).
 */
export function otlpReceiver(label: string, root: string, probeOne: boolean): () => Promise<TargetResources> {
  return async () => {
    const receiver = await startServer({
      label: `receiver/${label}`,
      script: path.join(root, 'bench', 'servers', 'otlp-receiver.ts'),
      cwd: root,
    });
    let alone: number | undefined;
    return {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.baseUrl },
      beforeLoad: async (target) => {
        if (probeOne) {
          await settledStats(receiver.baseUrl);
          await reset(receiver.baseUrl);
          const res = await fetch(`${target.baseUrl}${target.spec.path}`, {
            method: target.spec.method,
            headers: { ...target.spec.headers },
          });
          await res.arrayBuffer();
          alone = (await settledStats(receiver.baseUrl)).spans;
        }
        await reset(receiver.baseUrl);
      },
      afterLoad: async (served) => {
        const stats = await settledStats(receiver.baseUrl);
        const per = served > 0 ? stats.spans / served : 0;
        return {
          cells: { [SPANS_COLUMN]: `${fixed(per, 2)}${alone !== undefined ? ` (one request alone: ${alone})` : ''}` },
          notes: [
            `- ${label}: the receiver got ${int(stats.spans)} spans in ${int(stats.traceExports)} trace exports (and ${stats.metricExports} metric exports) for ${int(served)} requests under load.`,
          ],
        };
      },
      stop: () => receiver.stop(),
    };
  };
}

/** An endpoint where nothing listens: every export fails with ECONNREFUSED. */
export function deadEndpoint(): () => Promise<TargetResources> {
  return async () => ({
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}` },
    afterLoad: async () => ({ cells: { [SPANS_COLUMN]: '– (nothing listens)' } }),
    stop: async () => undefined,
  });
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlledPostgres } from '../../test/helpers/faults/controlled-postgres.js';
import { SupervisedServer } from '../../test/helpers/faults/supervised-server.js';
import { freePort } from '../../test/helpers/server-process.js';
import { userWithProject } from '../lib/api.js';
import { treeCpuSeconds } from '../lib/cpu.js';
import { startRedis } from '../lib/redis.js';
import { sectionHead } from '../lib/report.js';
import { median } from '../lib/stats.js';
import { startWorker, type Worker } from '../lib/worker.js';
import { fixed, int, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `reconnect-storm` (issue 20 item 4, docs/adr/0028): N project streams on one instance (the real
 * entry point under a supervisor that starts it again 0.5 s after it exits, as an orchestrator
 * would), then a restart (SIGTERM: the instance ends every stream and exits). Clients reconnect
 * like EventSource (bench/clients/reconnect-clients.ts): after the server's jittered `retry:`
 * hint (`hint`), or after a fixed 2,000 ms (`fixed`: every client the same, the pre-jitter
 * behaviour) — the baseline, in the same run, rounds alternating. Measured per round: the peak of
 * reopened streams in any one second, the time from the SIGTERM until all N are open again,
 * failed attempts, and the new process's CPU per reopened stream (from live to all back).
 */
const DEFAULT_CLIENTS = 5_000;
const DEFAULT_ROUNDS = 2;
const CONNECT_CONCURRENCY = 100;
const FIXED_MS = 2_000;
const BACK_TIMEOUT_MS = 180_000;

interface StormRound {
  readonly mode: 'hint' | 'fixed';
  readonly connectMs: number;
  readonly downMs: number;
  readonly allBackMs: number | null;
  readonly peakPerSecond: number;
  readonly refused: number;
  readonly unavailable: number;
  readonly cpuUsPerReopen: number;
  readonly reopened: number;
}

/** The most reopens inside any one-second window. */
function peakPerSecond(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] ?? 0) - (sorted[j] ?? 0) >= 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

async function storm(
  ctx: ScenarioContext,
  server: SupervisedServer,
  projectPath: string,
  token: string,
  n: number,
  mode: 'hint' | 'fixed',
): Promise<StormRound> {
  const clients: Worker = startWorker({
    label: `reconnect-clients-${mode}`,
    script: path.join(ctx.root, 'bench', 'clients', 'reconnect-clients.ts'),
    cwd: ctx.root,
    fileLimit: n + 1_024,
  });
  try {
    const { ms: connectMs } = await clients.request<{ connected: number; ms: number }>({
      cmd: 'connect',
      host: '127.0.0.1',
      port: server.port,
      path: `${projectPath}/events`,
      token,
      clients: n,
      concurrency: CONNECT_CONCURRENCY,
      mode,
      fixedMs: FIXED_MS,
    });
    await sleep(2_000);
    await clients.request({ cmd: 'mark' });
    const oldPid = server.pid;
    const t0 = performance.now();
    if (oldPid !== undefined) process.kill(oldPid, 'SIGTERM');
    while (server.pid === oldPid) await sleep(20);
    await server.waitLive(60_000);
    const liveAt = performance.now();
    const cpuAtLive = treeCpuSeconds([server.pid ?? 0])[0] ?? Number.NaN;
    let stats = { open: 0, reopenedMs: [] as number[], refused: 0, unavailable: 0 };
    let allBackMs: number | null = null;
    while (performance.now() - t0 < BACK_TIMEOUT_MS) {
      stats = await clients.request<typeof stats>({ cmd: 'stats' });
      if (stats.reopenedMs.length >= n) {
        allBackMs = Math.max(...stats.reopenedMs);
        break;
      }
      await sleep(100);
    }
    const cpuAtBack = treeCpuSeconds([server.pid ?? 0])[0] ?? Number.NaN;
    ctx.log(`${mode}: ${stats.reopenedMs.length}/${n} back in ${allBackMs ?? 'never'} ms`);
    return {
      mode,
      connectMs,
      downMs: liveAt - t0,
      allBackMs,
      peakPerSecond: peakPerSecond(stats.reopenedMs),
      refused: stats.refused,
      unavailable: stats.unavailable,
      cpuUsPerReopen: ((cpuAtBack - cpuAtLive) * 1e6) / Math.max(1, stats.reopenedMs.length),
      reopened: stats.reopenedMs.length,
    };
  } finally {
    await clients.stop();
    // The server notices the sockets go; let it settle before the next round connects.
    await sleep(3_000);
  }
}

/** The instance's accept queue (LISTEN_BACKLOG); BENCH_LISTEN_BACKLOG=511 measures Node's default. */
const BACKLOG = process.env.BENCH_LISTEN_BACKLOG ?? '4096';

export async function reconnectStormScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const n = intFromEnv('BENCH_STORM_CLIENTS', DEFAULT_CLIENTS, 1);
  const rounds = intFromEnv('BENCH_STORM_ROUNDS', DEFAULT_ROUNDS, 1);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-storm-'));
  const [postgres, redis] = await Promise.all([startControlledPostgres(), startRedis()]);
  const server = SupervisedServer.start(
    {
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE_IP: '0',
      RATE_LIMIT_PER_MINUTE_USER: '0',
      RATE_LIMIT_PER_MINUTE_PROJECT: '0',
      LISTEN_BACKLOG: BACKLOG,
    },
    await freePort(),
  );
  const results: StormRound[] = [];
  try {
    await server.waitLive(90_000);
    const { token, projectId } = await userWithProject(server.base);
    const projectPath = `/api/v1/projects/${projectId}`;
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 === 0 ? (['hint', 'fixed'] as const) : (['fixed', 'hint'] as const)) {
        results.push(await storm(ctx, server, projectPath, token, n, mode));
      }
    }
  } finally {
    await server.stop();
    await redis.stop();
    await postgres.dispose();
    await rm(dataDir, { recursive: true, force: true });
  }
  const rows = results.map(
    (r) =>
      `| ${r.mode} | ${int(r.connectMs)} | ${int(r.downMs)} | ${r.allBackMs === null ? `never (${int(r.reopened)})` : int(r.allBackMs)} | ${int(r.peakPerSecond)} | ${int(r.refused)} | ${int(r.unavailable)} | ${int(r.cpuUsPerReopen)} |`,
  );
  const of = (mode: 'hint' | 'fixed', pick: (r: StormRound) => number) => median(results.filter((r) => r.mode === mode).map(pick));
  const body = [
    ...sectionHead({
      name: ctx.name,
      title: ctx.title,
      machine: ctx.machine,
      command: ctx.command,
      method:
        `one instance (src/server.ts with the telemetry preload, NODE_ENV=development, external embedded PostgreSQL 18 and redis-server, rate limits off, LISTEN_BACKLOG=${BACKLOG}) ` +
        `under a supervisor that starts it again 0.5 s after it exits; ${int(n)} project streams held by EventSource-like bare-socket clients in one ` +
        `other process (${CONNECT_CONCURRENCY} connecting at a time); then SIGTERM (the instance ends every stream, exits, is started again). ` +
        `\`hint\`: each client waits the \`retry:\` the server sent it (jittered over 1,000–3,000 ms); \`fixed\`: every client waits ${FIXED_MS} ms ` +
        `(the pre-jitter behaviour), the baseline. Rounds alternate (${rounds} of each). "All back" is from the SIGTERM; a failed attempt ` +
        '(refused while the process is down) waits the same time again. CPU: the new process, from live to all back, per reopened stream.',
    }),
    '',
    '| mode | first connect of N (ms) | SIGTERM → live again (ms) | SIGTERM → all N back (ms) | peak reopens in 1 s | refused attempts | 503s | server CPU µs per reopen |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `- Medians: peak reopens per second **${int(of('hint', (r) => r.peakPerSecond))}** with the jittered hint vs **${int(of('fixed', (r) => r.peakPerSecond))}** fixed; ` +
      `all back after **${fixed(of('hint', (r) => r.allBackMs ?? Number.NaN) / 1000)} s** vs **${fixed(of('fixed', (r) => r.allBackMs ?? Number.NaN) / 1000)} s**; ` +
      `CPU per reopen ${int(of('hint', (r) => r.cpuUsPerReopen))} µs vs ${int(of('fixed', (r) => r.cpuUsPerReopen))} µs.`,
  ].join('\n');
  return { body, full: n >= DEFAULT_CLIENTS && rounds >= DEFAULT_ROUNDS };
}

import { existsSync } from 'node:fs';
import path from 'node:path';
import { createParser } from 'eventsource-parser';
import { createOperation, userWithProject } from '../lib/api.js';
import { alternateRounds, type LoadTarget, type TargetSummary } from '../lib/load.js';
import { waitForQuiet } from '../lib/quiet.js';
import { type BenchRedis, startRedis } from '../lib/redis.js';
import { ratioOf, sectionHead, table } from '../lib/report.js';
import { type RunningServer, startServer } from '../lib/server-process.js';
import { median } from '../lib/stats.js';
import { fixed, int, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `event-publish` (issue 14): what the durable event log costs. The same app at two commits —
 * BEFORE (a checkout of the base commit, BENCH_BASE_DIR) and AFTER (this tree) — each in its own
 * process with its own embedded PostgreSQL and its own redis-server, measured in the same run:
 * - publish throughput: autocannon POSTs progress events to one operation (the row lock
 *   serialises them, as a worker's events are), rounds alternating BEFORE → AFTER;
 * - publish → delivery latency: one SSE client on a fresh operation, events published one at a
 *   time, from the publisher's clock before its POST to the client's receipt; rounds alternating.
 * Goal: AFTER ≥ 70 % of BEFORE's publish throughput.
 */
const EVENT_BODY = JSON.stringify({ type: 'progress', data: { percent: 40, note: 'a typical progress event' }, status: 'running' });
const MIN_RATIO = 0.7;

interface Side {
  readonly label: 'before' | 'after';
  readonly root: string;
  readonly redis: BenchRedis;
  readonly server: RunningServer;
  readonly token: string;
  readonly projectId: string;
}

async function startSide(ctx: ScenarioContext, label: Side['label'], root: string): Promise<Side> {
  const redis = await startRedis();
  ctx.log(`starting ${label} (${root})`);
  const server = await startServer({
    label: `${ctx.name}/${label}`,
    script: path.join(root, 'bench/servers/app.ts'),
    cwd: root,
    env: {
      BENCH_APP_ENV: JSON.stringify({
        REDIS_URL: redis.url,
        RATE_LIMIT_PER_MINUTE_IP: '0',
        RATE_LIMIT_PER_MINUTE_USER: '0',
        RATE_LIMIT_PER_MINUTE_PROJECT: '0',
      }),
    },
    nodeArgs: ctx.cpuProfArgs(label),
  });
  const { token, projectId } = await userWithProject(server.baseUrl);
  return { label, root, redis, server, token, projectId };
}

/** One latency round: `events` published one after the other to a fresh operation with one stream open. */
async function latencyRound(side: Side, events: number): Promise<number[]> {
  const op = await createOperation(side.server.baseUrl, side.token, side.projectId);
  const url = `${side.server.baseUrl}/api/v1/projects/${side.projectId}/operations/${op}/events`;
  const auth = { authorization: `Bearer ${side.token}` };
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...auth }, signal: controller.signal });
  if (res.status !== 200 || !res.body) throw new Error(`${side.label}: stream answered ${res.status}`);
  const arrivals = new Map<number, number>();
  let wake: (() => void) | undefined;
  const parser = createParser({
    onEvent: (e) => {
      arrivals.set(Number(e.id), performance.now());
      wake?.();
    },
  });
  const reading = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // aborted at the end of the round
    }
  })();
  const latencies: number[] = [];
  try {
    for (let i = 1; i <= events; i++) {
      const sent = performance.now();
      const pub = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: EVENT_BODY });
      const { id } = (await pub.json()) as { id: number };
      if (pub.status !== 202) throw new Error(`${side.label}: publish answered ${pub.status}`);
      while (!arrivals.has(id)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 5_000);
        });
        if (!arrivals.has(id) && performance.now() - sent > 5_000) throw new Error(`${side.label}: event ${id} not delivered within 5 s`);
      }
      latencies.push((arrivals.get(id) ?? Number.NaN) - sent);
    }
  } finally {
    controller.abort();
    await reading;
  }
  return latencies;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function eventPublishScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const baseDir = process.env.BENCH_BASE_DIR;
  if (!baseDir || !existsSync(path.join(baseDir, 'bench/servers/app.ts')) || !existsSync(path.join(baseDir, 'node_modules'))) {
    throw new Error(
      'event-publish: set BENCH_BASE_DIR to a checkout of the commit to compare with, with its node_modules ' +
        '(e.g. git worktree add /work/bench-base bfbc0ad && ln -s "$PWD/node_modules" /work/bench-base/)',
    );
  }
  const rounds = intFromEnv('BENCH_ROUNDS', 3, 1);
  const duration = intFromEnv('BENCH_DURATION', 5, 1);
  const warmup = intFromEnv('BENCH_WARMUP', 3, 0);
  const connections = intFromEnv('BENCH_EVENT_CONNECTIONS', 16, 1);
  const latencyEvents = intFromEnv('BENCH_EVENT_LATENCY_EVENTS', 200, 10);
  const sides: Side[] = [];
  let summaries: TargetSummary[];
  const latency = new Map<string, Array<{ p50: number; p99: number }>>([
    ['before', []],
    ['after', []],
  ]);
  try {
    sides.push(await startSide(ctx, 'before', path.resolve(baseDir)));
    sides.push(await startSide(ctx, 'after', ctx.root));
    const targets: LoadTarget[] = [];
    for (const side of sides) {
      const op = await createOperation(side.server.baseUrl, side.token, side.projectId);
      targets.push({
        label: side.label,
        baseUrl: side.server.baseUrl,
        pid: side.server.pid,
        companionPids: [side.redis.pid],
        spec: {
          method: 'POST',
          path: `/api/v1/projects/${side.projectId}/operations/${op}/events`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${side.token}` },
          body: EVENT_BODY,
        },
      });
    }
    summaries = await alternateRounds(targets, {
      connections,
      durationSeconds: duration,
      warmupSeconds: warmup,
      rounds,
      maxForeignCpu: ctx.maxForeignCpu,
      retries: 3,
      quietWaitMs: ctx.quietWaitMs,
      onProgress: ctx.log,
    });
    for (const side of sides) await latencyRound(side, 20); // warm the stream path
    for (let round = 1; round <= rounds; round++) {
      for (const side of sides) {
        await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
        const sorted = (await latencyRound(side, latencyEvents)).sort((a, b) => a - b);
        const r = { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
        latency.get(side.label)?.push(r);
        ctx.log(`latency round ${round}/${rounds} ${side.label}: p50 ${fixed(r.p50, 2)} ms, p99 ${fixed(r.p99, 2)} ms`);
      }
    }
  } finally {
    for (const side of sides) {
      await side.server.stop();
      await side.redis.stop();
    }
  }

  const describe = (label: string) =>
    label === 'before'
      ? 'base commit: event numbered and kept in Redis (Lua script) inside the PostgreSQL transaction'
      : 'this tree: event row + sequence in PostgreSQL (one statement), PUBLISH to Redis after COMMIT';
  const ratio = ratioOf(summaries, { numerator: 'after', denominator: 'before' });
  const latencyRows = sides.map((side) => {
    const rs = latency.get(side.label) ?? [];
    const perRound = rs.map((r) => `${fixed(r.p50, 2)} / ${fixed(r.p99, 2)}`).join(' · ');
    return `| ${side.label} | ${fixed(median(rs.map((r) => r.p50)), 2)} | ${fixed(median(rs.map((r) => r.p99)), 2)} | ${perRound} |`;
  });
  const body = [
    ...sectionHead({
      name: ctx.name,
      title: ctx.title,
      command: ctx.command,
      machine: ctx.machine,
      method:
        `BEFORE = BENCH_BASE_DIR, AFTER = this tree; each app (bench/servers/app.ts of its own tree) with its own embedded PostgreSQL and redis-server, ` +
        `rate limits 0, LOG_LEVEL=warn. Throughput: POST ${EVENT_BODY} to one operation, ${connections} connections, ${warmup} s warm-up each, ` +
        `${rounds} rounds of ${duration} s alternating before → after, median (retention trims every publish once 1,000 events are kept). ` +
        `Latency: one SSE client on a fresh operation, ${latencyEvents} events published one at a time per round, publisher's clock before the POST ` +
        `to the client's receipt; ${rounds} rounds alternating, median of the rounds' p50 and p99. Redis CPU counts as the server's.`,
    }),
    '',
    table({ summaries, describe }),
    '',
    '| target | publish → delivery p50 (ms) | p99 (ms) | p50 / p99 per round |',
    '|---|---:|---:|---|',
    ...latencyRows,
    '',
    `- **after/before publish throughput = ${ratio.toFixed(2)}** (${Math.round(ratio * 100)} %) — goal ≥ ${MIN_RATIO.toFixed(2)}: ${ratio >= MIN_RATIO ? 'goal met' : 'goal MISSED'}`,
    `- after: ${int(summaries.find((s) => s.label === 'after')?.medianReqPerSec ?? 0)} events/s; before: ${int(summaries.find((s) => s.label === 'before')?.medianReqPerSec ?? 0)} events/s.`,
  ].join('\n');
  return { body, full: rounds >= 3 && duration >= 5 };
}

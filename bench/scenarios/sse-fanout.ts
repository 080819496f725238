import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOperation, userWithProject } from '../lib/api.js';
import { cpuUse, sampleCpu, treeCpuSeconds } from '../lib/cpu.js';
import { waitForQuiet } from '../lib/quiet.js';
import { connectedClients, startRedis } from '../lib/redis.js';
import { sectionHead } from '../lib/report.js';
import { MEMORY_KEY } from '../lib/serve.js';
import { type RunningServer, startServer } from '../lib/server-process.js';
import { median } from '../lib/stats.js';
import { startWorker, type Worker } from '../lib/worker.js';
import { fixed, int, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `sse-fanout` (issue 5): N concurrent SSE clients on one operation of one app process, events
 * published through the HTTP API at a steady rate with REDIS_URL set (so every event goes
 * app → Redis script → pub/sub → the app's one subscriber → N sockets). Reported per N:
 * delivery latency from the publisher's clock reading just before its POST to the client's
 * receipt, server RSS per idle connection, and the connections the app holds to Redis.
 * The clients are bench/clients/sse-clients.ts (bare sockets, one or two processes), not
 * autocannon: autocannon measures request/response, not a stream held open.
 */
const DEFAULT_COUNTS = [1_000, 5_000, 10_000];
const DEFAULT_RATE = 10;
const DEFAULT_SECONDS = 20;
/** Clients per client process: above this, two processes share the parsing. */
const CLIENTS_PER_WORKER = 5_000;
const CONNECT_CONCURRENCY = 100;
const WARMUP_CLIENTS = 200;
const DELIVERY_TIMEOUT_MS = 60_000;

/** The code a run serves: this checkout, or a baseline tree (BENCH_SSE_BASELINE) measured in the same run. */
interface Variant {
  readonly label: string;
  readonly root: string;
}

interface FanoutResult {
  readonly variant: string;
  readonly requested: number;
  readonly connected: number;
  readonly connectErrors: Record<string, number>;
  readonly connectMs: number;
  readonly workers: number;
  readonly base: Memory;
  readonly idle: Memory;
  readonly redisBase: number;
  readonly redisIdle: number;
  readonly redisPublishing: number;
  readonly published: number;
  readonly publishMs: readonly number[];
  readonly expected: number;
  readonly delivered: number;
  readonly perClientMin: number;
  readonly perClientMax: number;
  readonly closedByServer: number;
  readonly latency: { p50: number; p90: number; p99: number; max: number };
  readonly cpu: { server: number; node: number; clients: number; publisher: number; others: number };
  readonly deliverySeconds: number;
}

interface ClientStats {
  readonly received: number;
  readonly open: number;
  readonly closedByServer: number;
  readonly perClientMin: number;
  readonly perClientMax: number;
  readonly histogram: Array<[number, number]>;
}

function countsFromEnv(): number[] {
  const raw = process.env.BENCH_SSE_CLIENTS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_COUNTS;
  const counts = raw.split(',').map((s) => Number(s.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_SSE_CLIENTS: comma-separated client counts (got "${raw}")`);
  return counts;
}

/** The node process's resident memory, kB (/proc/<pid>/status VmRSS). */
async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
}

interface Memory {
  readonly rssKb: number;
  /** V8's live JS heap after the GC, from the app's own report (process.memoryUsage().heapUsed). */
  readonly heapUsedKb: number;
}

/**
 * RSS after a full GC (bench/servers/app.ts collects on SIGUSR2 and reports its
 * process.memoryUsage() on a line `latest` catches): median of three readings.
 */
async function settledMemory(pid: number, latest: () => number | undefined): Promise<Memory> {
  process.kill(pid, 'SIGUSR2');
  await sleep(1_000);
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    readings.push(await rssKb(pid));
    await sleep(200);
  }
  return { rssKb: median(readings), heapUsedKb: (latest() ?? Number.NaN) / 1024 };
}

const epochMs = () => performance.timeOrigin + performance.now();

/**
 * `count` events at `rate` per second on a fixed schedule (not one after the other: a slow
 * answer must not slow the rate down). Each carries the publisher's clock in `data.sent`.
 * Resolves with each POST's own duration, in ms.
 */
async function publishSeries(baseUrl: string, token: string, path_: string, count: number, rate: number): Promise<number[]> {
  const started = performance.now();
  const posts: Promise<number>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const t0 = performance.now();
    const body = JSON.stringify({ type: 'progress', data: { seq: i, sent: epochMs() } });
    posts.push(publishOne(`${baseUrl}${path_}`, token, body).then(() => performance.now() - t0));
  }
  return Promise.all(posts);
}

/** Tries a 503 again (nothing was committed, contract §9): on a loaded machine the app's pool may time out waiting for its own PostgreSQL. */
const PUBLISH_ATTEMPTS = 3;

async function publishOne(url: string, token: string, body: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    const text = await res.text();
    if (res.status === 202) return;
    if (res.status !== 503 || attempt === PUBLISH_ATTEMPTS) throw new Error(`publish answered ${res.status} ${text.slice(0, 200)}`);
  }
}

function percentile(histogram: ReadonlyMap<number, number>, total: number, q: number): number {
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (const [ms, n] of [...histogram].sort((a, b) => a[0] - b[0])) {
    seen += n;
    if (seen >= rank) return ms;
  }
  return Number.NaN;
}

async function fanout(ctx: ScenarioContext, variant: Variant, n: number, rate: number, seconds: number): Promise<FanoutResult> {
  const log = (line: string) => ctx.log(`${variant.label} N=${n}: ${line}`);
  const redis = await startRedis();
  let server: RunningServer | undefined;
  const workers: Worker[] = [];
  // One descriptor per socket, plus the app's own (PostgreSQL, Redis, files).
  const fileLimit = n + 4_096;
  let heapUsed: number | undefined;
  const onLine = (line: string) => {
    if (!line.includes(MEMORY_KEY)) return false;
    const report = (JSON.parse(line) as Record<string, { heapUsed?: number } | undefined>)[MEMORY_KEY];
    heapUsed = report?.heapUsed;
    return true;
  };
  try {
    server = await startServer({
      label: `sse-fanout/${variant.label}/${n}`,
      script: path.join(variant.root, 'bench', 'servers', 'app.ts'),
      cwd: variant.root,
      env: {
        BENCH_APP_ENV: JSON.stringify({
          REDIS_URL: redis.url,
          RATE_LIMIT_PER_MINUTE_IP: '0',
          RATE_LIMIT_PER_MINUTE_USER: '0',
          RATE_LIMIT_PER_MINUTE_PROJECT: '0',
        }),
      },
      nodeArgs: ['--expose-gc', ...ctx.cpuProfArgs(`server-${variant.label}-${n}`)],
      fileLimit,
      onLine,
    });
    const serverPid = server.pid;
    if (serverPid === undefined) throw new Error('no server pid');
    const { token, projectId } = await userWithProject(server.baseUrl);
    const warmOperation = await createOperation(server.baseUrl, token, projectId);
    const operation = await createOperation(server.baseUrl, token, projectId);
    const eventsPath = (op: string) => `/api/v1/projects/${projectId}/operations/${op}/events`;
    const port = Number(new URL(server.baseUrl).port);
    const workerCount = Math.ceil(n / CLIENTS_PER_WORKER);
    for (let i = 1; i <= workerCount; i++) {
      workers.push(
        startWorker({
          label: `sse-clients-${i}`,
          script: path.join(ctx.root, 'bench', 'clients', 'sse-clients.ts'),
          cwd: ctx.root,
          fileLimit,
          nodeArgs: ctx.cpuProfArgs(`clients-${n}-${i}`),
        }),
      );
    }
    const connect = (worker: Worker, op: string, clients: number) =>
      worker.request<{ connected: number; failed: number; errors: Record<string, number>; ms: number }>({
        cmd: 'connect',
        host: '127.0.0.1',
        port,
        path: eventsPath(op),
        token,
        clients,
        concurrency: CONNECT_CONCURRENCY,
      });
    const first = workers[0] as Worker;

    // Warm-up on another operation (a new stream replays its operation's history: the measured
    // one must start empty): JIT, pools, the subscriber, then back to no clients at all.
    log('warm-up');
    await connect(first, warmOperation, WARMUP_CLIENTS);
    await publishSeries(server.baseUrl, token, eventsPath(warmOperation), 20, 50);
    await sleep(1_000);
    await first.request({ cmd: 'close' });
    await sleep(2_000);

    const base = await settledMemory(serverPid, () => heapUsed);
    const redisBase = await connectedClients(redis);
    log(`RSS with no clients ${int(base.rssKb / 1024)} MiB; Redis clients ${redisBase}; connecting ${n} clients`);
    const t0 = performance.now();
    const shares = workers.map((_w, i) => Math.floor(n / workerCount) + (i < n % workerCount ? 1 : 0));
    const opened = await Promise.all(workers.map((w, i) => connect(w, operation, shares[i] ?? 0)));
    const connectMs = performance.now() - t0;
    const connected = opened.reduce((s, o) => s + o.connected, 0);
    const connectErrors: Record<string, number> = {};
    for (const o of opened) for (const [k, v] of Object.entries(o.errors)) connectErrors[k] = (connectErrors[k] ?? 0) + v;
    log(`${connected} connected in ${int(connectMs)} ms${connected < n ? ` (failed: ${JSON.stringify(connectErrors)})` : ''}`);

    await sleep(3_000);
    const idle = await settledMemory(serverPid, () => heapUsed);
    const redisIdle = await connectedClients(redis);
    log(
      `RSS with ${connected} idle clients ${int(idle.rssKb / 1024)} MiB (${fixed((idle.rssKb - base.rssKb) / connected)} KiB each, ` +
        `JS heap ${fixed((idle.heapUsedKb - base.heapUsedKb) / connected)} KiB); Redis clients ${redisIdle}`,
    );

    for (const w of workers) await w.request({ cmd: 'reset' });
    await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, log);
    const count = rate * seconds;
    const expected = connected * count;
    const pids = workers.map((w) => w.pid);
    const cpuBefore = sampleCpu(serverPid);
    const clientsBefore = treeCpuSeconds(pids).reduce((a, b) => a + b, 0);
    const publishStart = performance.now();
    log(`publishing ${count} events at ${rate}/s`);
    let redisPublishing = 0;
    // Settled even if publishing fails meanwhile: the finally below stops Redis under it.
    const probe = sleep((seconds * 1000) / 2)
      .then(async () => {
        redisPublishing = await connectedClients(redis);
      })
      .catch(() => undefined);
    const publishMs = await publishSeries(server.baseUrl, token, eventsPath(operation), count, rate);
    await probe;
    const stats = async () => Promise.all(workers.map((w) => w.request<ClientStats>({ cmd: 'stats' })));
    let delivered = 0;
    const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
    while (performance.now() < deadline) {
      // Only the count while waiting: walking the histogram every 250 ms would load the clients.
      delivered = (await Promise.all(workers.map((w) => w.request<{ received: number }>({ cmd: 'count' })))).reduce(
        (s, x) => s + x.received,
        0,
      );
      if (delivered >= expected) break;
      await sleep(250);
    }
    const deliverySeconds = (performance.now() - publishStart) / 1000;
    const cpu = cpuUse(cpuBefore, sampleCpu(serverPid));
    const clientsCpu = treeCpuSeconds(pids).reduce((a, b) => a + b, 0) - clientsBefore;

    const final = await stats();
    const histogram = new Map<number, number>();
    let total = 0;
    for (const s of final) {
      for (const [ms, k] of s.histogram) {
        histogram.set(ms, (histogram.get(ms) ?? 0) + k);
        total += k;
      }
    }
    delivered = final.reduce((s, x) => s + x.received, 0);
    const latency = {
      p50: percentile(histogram, total, 0.5),
      p90: percentile(histogram, total, 0.9),
      p99: percentile(histogram, total, 0.99),
      // A loop, not Math.max(...keys): a run with seconds of spread has more buckets than the stack takes arguments.
      max: [...histogram.keys()].reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
    };
    log(`delivered ${delivered}/${expected}; latency p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms`);
    return {
      variant: variant.label,
      requested: n,
      connected,
      connectErrors,
      connectMs,
      workers: workerCount,
      base,
      idle,
      redisBase,
      redisIdle,
      redisPublishing,
      published: count,
      publishMs,
      expected,
      delivered,
      perClientMin: Math.min(...final.map((s) => s.perClientMin)),
      perClientMax: Math.max(...final.map((s) => s.perClientMax)),
      closedByServer: final.reduce((s, x) => s + x.closedByServer, 0),
      latency,
      cpu: {
        server: cpu?.server ?? Number.NaN,
        node: cpu?.serverProcess ?? Number.NaN,
        publisher: cpu?.generator ?? Number.NaN,
        others: cpu?.others ?? Number.NaN,
        clients: (clientsCpu / deliverySeconds) * 100,
      },
      deliverySeconds,
    };
  } finally {
    for (const w of workers) await w.stop();
    await server?.stop();
    await redis.stop();
  }
}

export async function sseFanoutScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const counts = countsFromEnv();
  const rate = intFromEnv('BENCH_SSE_RATE', DEFAULT_RATE, 1);
  const seconds = intFromEnv('BENCH_SSE_SECONDS', DEFAULT_SECONDS, 1);
  const baseline = process.env.BENCH_SSE_BASELINE?.trim();
  const current: Variant = { label: baseline ? 'this' : '', root: ctx.root };
  const variants: Variant[] = baseline ? [{ label: 'baseline', root: path.resolve(baseline) }, current] : [current];
  const results: FanoutResult[] = [];
  for (const [i, n] of counts.entries()) {
    // Alternate which code goes first, so a load that drifts during the run favours neither.
    const order = i % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
      results.push(await fanout(ctx, variant, n, rate, seconds));
    }
  }
  results.sort((a, b) => a.requested - b.requested || a.variant.localeCompare(b.variant));
  const named = (r: FanoutResult) => (r.variant ? `${r.variant} ` : '');

  const kbPer = (r: FanoutResult) => (r.idle.rssKb - r.base.rssKb) / r.connected;
  const heapPer = (r: FanoutResult) => (r.idle.heapUsedKb - r.base.heapUsedKb) / r.connected;
  const rows = results.map((r) => {
    const connected = r.connected === r.requested ? int(r.connected) : `${int(r.connected)} of ${int(r.requested)}`;
    const pub = `${fixed(median(r.publishMs))} / ${fixed(percentileOf(r.publishMs, 0.99))}`;
    return (
      `| ${named(r)}${int(r.requested)} | ${connected} (${fixed(r.connectMs / 1000)} s) | ${fixed(r.latency.p50)} | ${fixed(r.latency.p90)} | **${fixed(r.latency.p99)}** | ${fixed(r.latency.max)} | ` +
      `${int(r.delivered)} / ${int(r.expected)} | ${pub} | ${int(r.base.rssKb / 1024)} → ${int(r.idle.rssKb / 1024)} | **${fixed(kbPer(r))}** (${fixed(heapPer(r))}) | ` +
      `${r.redisBase} / ${r.redisIdle} / ${r.redisPublishing} | ${int(r.cpu.server)} (${int(r.cpu.node)}) / ${int(r.cpu.clients)} / ${int(r.cpu.publisher)} / ${int(r.cpu.others)} | ` +
      `**${fixed(usPerDelivery(r))}** |`
    );
  });
  const redisCounts = new Set(results.flatMap((r) => [r.redisIdle, r.redisPublishing]));
  const verdicts = [
    ...results
      .filter((r) => r.requested === 5_000)
      .map(
        (r) =>
          `- **${named(r)}p99 delivery latency at 5,000 clients × ${rate}/s = ${fixed(r.latency.p99)} ms** — goal < 100 ms (issue 19): ${r.latency.p99 < 100 && r.delivered === r.expected ? 'goal met' : 'goal MISSED'}`,
      ),
    ...results.map(
      (r) =>
        `- **${named(r)}Node CPU per delivery at ${int(r.connected)} = ${fixed(usPerDelivery(r))} µs** — goal ≤ 10 µs (100,000 deliveries/s per core): ${usPerDelivery(r) <= 10 ? 'goal met' : 'goal MISSED'}`,
    ),
    ...results.map(
      (r) =>
        `- **${named(r)}RSS per idle connection at ${int(r.connected)} = ${fixed(kbPer(r))} KiB** — goal < 20 KB (19.5 KiB, issue 19): ${kbPer(r) * 1024 < 20_000 ? 'goal met' : 'goal MISSED'}`,
    ),
    ...variants.flatMap((v) => marginalLine(results.filter((r) => r.variant === v.label))),
    `- **Redis connections with clients: ${[...redisCounts].join(', ')}** at N = ${results.map((r) => int(r.connected)).join(', ')} — goal independent of N: ${redisCounts.size === 1 ? 'goal met' : 'goal MISSED'}`,
    ...results.flatMap((r) =>
      r.delivered < r.expected || r.closedByServer > 0 || r.perClientMin < r.published
        ? [
            `- ${named(r)}N=${int(r.requested)}: ${int(r.expected - r.delivered)} event deliveries missing ${fixed(DELIVERY_TIMEOUT_MS / 1000, 0)} s after the last publish; ` +
              `per client ${r.perClientMin}–${r.perClientMax} of ${r.published} events; ${r.closedByServer} streams closed by the server.`,
          ]
        : [],
    ),
    ...results.flatMap((r) =>
      Object.keys(r.connectErrors).length > 0
        ? [`- ${named(r)}N=${int(r.requested)}: connections refused or failed: ${JSON.stringify(r.connectErrors)}`]
        : [],
    ),
  ];
  const body = [
    ...sectionHead({
      ...ctx,
      method:
        `per N, a fresh redis-server (no persistence) and a fresh app process (bench/servers/app.ts, REDIS_URL set, rate limits 0, ` +
        `SSE_KEEPALIVE_SECONDS default 30, --expose-gc, at least N + 4096 open files); one user, project and operation. Warm-up: ${WARMUP_CLIENTS} streams on another ` +
        `operation, 20 events, closed. Then N streams (bare sockets in ${CLIENTS_PER_WORKER.toLocaleString('en-US')}-client processes, ${CONNECT_CONCURRENCY} connecting at a time; ` +
        `a stream counts once the server sent its \`retry:\` frame, i.e. after it subscribed), 3 s idle, then ${rate * seconds} events ` +
        `published at ${rate}/s for ${seconds} s through POST …/events, each carrying the publisher's clock (performance.timeOrigin + now, ` +
        "the same clock in every process); latency = receipt − that time, over every (event, client) pair. RSS: the app process's VmRSS " +
        "after a forced GC (SIGUSR2 → gc()), median of 3 readings, with no clients (after the warm-up) and with N idle clients; JS heap = the app's own heapUsed after that GC. Redis clients: " +
        '`CLIENT LIST` minus the asking redis-cli, with no clients / N idle / mid-publishing. CPU during publishing and delivery, % of one CPU; ' +
        'app = its process tree (Node and its embedded PostgreSQL), in brackets the Node process alone. Node CPU µs per delivery = the Node ' +
        "process's CPU time from the first publish until the last delivery arrived (POST handling included) / deliveries." +
        (baseline
          ? ` Baseline in the same run: the tree at ${baseline} (BENCH_SSE_BASELINE) served by the same harness, each N measured on both, the order alternating from one N to the next.`
          : ''),
    }),
    '',
    '| N | connected (time) | latency p50 (ms) | p90 | p99 | max | deliveries | POST …/events ms p50 / p99 | app RSS MiB (none → N idle) | RSS KiB per idle connection (of it JS heap) | Redis clients (none / idle / publishing) | CPU % app (Node) / clients / publisher / others | Node CPU µs per delivery |',
    '|---:|---|---:|---:|---:|---:|---|---|---|---:|---|---|---:|',
    ...rows,
    '',
    ...verdicts,
  ].join('\n');
  return { body, full: rate >= DEFAULT_RATE && seconds >= DEFAULT_SECONDS };
}

/**
 * (RSS with N idle − RSS with none) / N carries a fixed part (heap pages the connection storm
 * grew and V8 kept) that weighs most at small N; the slope between the two largest N is the
 * memory one more idle connection costs.
 */
function marginalLine(results: readonly FanoutResult[]): string[] {
  const [a, b] = [...results].sort((x, y) => x.connected - y.connected).slice(-2);
  if (!a || !b || b.connected === a.connected) return [];
  const growth = (r: FanoutResult) => r.idle.rssKb - r.base.rssKb;
  const heap = (r: FanoutResult) => r.idle.heapUsedKb - r.base.heapUsedKb;
  const slope = (growth(b) - growth(a)) / (b.connected - a.connected);
  const fixedPart = growth(b) - slope * b.connected;
  return [
    `- Marginal RSS per idle connection between N = ${int(a.connected)} and ${int(b.connected)}: **${fixed(slope)} KiB** ` +
      `(JS heap ${fixed((heap(b) - heap(a)) / (b.connected - a.connected))} KiB), plus a fixed ${int(fixedPart / 1024)} MiB that does not grow with N.`,
  ];
}

function usPerDelivery(r: FanoutResult): number {
  return ((r.cpu.node / 100) * r.deliverySeconds * 1e6) / r.delivered;
}

function percentileOf(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI } from 'jose';
import { TokenService } from '../../src/auth/tokens.js';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { createProject, devLogin } from '../lib/api.js';
import { sectionHead } from '../lib/report.js';
import { MEMORY_KEY } from '../lib/serve.js';
import { startServer } from '../lib/server-process.js';
import { median } from '../lib/stats.js';
import { startWorker, type Worker } from '../lib/worker.js';
import { fixed, int, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `project-stream` (issue 16, docs/adr/0022): the app in its own process on an embedded
 * PostgreSQL of the scenario's own.
 * - delta → client latency with N project streams open on the process (all on one project, so
 *   each delta goes to every stream): N bare-socket clients (bench/clients/sse-clients.ts, in
 *   another process) hold the streams; a probe stream in this process, opened last (so written
 *   last in the fan-out), reads each `message.delta` whose text is the sender's clock before the
 *   POST; deltas sent by an operation token at a steady rate;
 * - memory per open project stream: server RSS and JS heap after a full GC, before and after the
 *   N streams opened;
 * - messages page read: M messages in a project (through the API), then GET
 *   /messages?before=<random seq>&limit=50, sequentially.
 */
const STREAMS = intFromEnv('BENCH_PROJECT_STREAMS', 1_000, 1);
const DELTAS = intFromEnv('BENCH_PROJECT_DELTAS', 300, 10);
const RATE = intFromEnv('BENCH_PROJECT_DELTA_RATE', 20, 1);
const MESSAGES = intFromEnv('BENCH_PROJECT_MESSAGES', 10_000, 100);
const READS = intFromEnv('BENCH_PROJECT_READS', 1_000, 50);

const epochMs = () => performance.timeOrigin + performance.now();

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
}

async function call(url: string, token: string, body?: unknown, method = 'POST'): Promise<Response> {
  return fetch(url, {
    method: body === undefined ? 'GET' : method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function ok<T>(response: Promise<Response>, status: number): Promise<T> {
  const res = await response;
  const text = await res.text();
  if (res.status !== status) throw new Error(`${res.url} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** A stream read in this process: the receipt time of each `message.delta` minus the clock its text carries. */
async function probe(url: string, token: string): Promise<{ latencies: number[]; close: () => void; opened: Promise<void> }> {
  const controller = new AbortController();
  const latencies: number[] = [];
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: controller.signal });
  let resolveOpen: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    resolveOpen = resolve;
  });
  const parser = createParser({
    onRetry: () => resolveOpen(),
    onEvent: (event) => {
      if (event.event !== 'message.delta') return;
      const at = epochMs();
      const { text } = JSON.parse(event.data) as { text: string };
      latencies.push(at - Number(text));
    },
  });
  (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // closed
    }
  })();
  return { latencies, close: () => controller.abort(), opened };
}

export async function projectStreamScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-project-stream-'));
  const postgres = await startEmbeddedPostgres({ dataDir: dir, settings: { fsync: 'off', synchronous_commit: 'off' } });
  const pair = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const [privatePem, publicPem] = [await exportPKCS8(pair.privateKey), await exportSPKI(pair.publicKey)];
  let heapUsed: number | undefined;
  const fileLimit = STREAMS + 4_096;
  const server = await startServer({
    label: `${ctx.name}/app`,
    script: path.join(ctx.root, 'bench/servers/app.ts'),
    cwd: ctx.root,
    env: {
      BENCH_APP_ENV: JSON.stringify({
        DATABASE_URL: postgres.url(),
        MIGRATE_ON_START: 'true',
        JWT_PRIVATE_KEY: privatePem,
        JWT_PUBLIC_KEY: publicPem,
        RATE_LIMIT_PER_MINUTE_IP: '0',
        RATE_LIMIT_PER_MINUTE_USER: '0',
        RATE_LIMIT_PER_MINUTE_PROJECT: '0',
      }),
    },
    nodeArgs: ['--expose-gc', ...ctx.cpuProfArgs('app')],
    fileLimit,
    onLine: (line) => {
      if (!line.includes(MEMORY_KEY)) return false;
      heapUsed = (JSON.parse(line) as Record<string, { heapUsed?: number } | undefined>)[MEMORY_KEY]?.heapUsed;
      return true;
    },
  });
  let clients: Worker | undefined;
  const pid = server.pid as number;
  const settled = async () => {
    process.kill(pid, 'SIGUSR2');
    await sleep(1_000);
    const readings: number[] = [];
    for (let i = 0; i < 3; i++) {
      readings.push(await rssKb(pid));
      await sleep(200);
    }
    return { rssKb: median(readings), heapKb: (heapUsed ?? Number.NaN) / 1024 };
  };
  try {
    const signer = new TokenService(
      { privateKey: await importPKCS8(privatePem, 'RS256'), publicKey: await importSPKI(publicPem, 'RS256'), kid: 'bench', publicJwk: {} },
      { issuer: 'jeex-api', audience: 'jeex', expiresInMinutes: 30 },
    );
    const workerToken = (await signer.issueWorker('bench-agent', 1)).access_token;
    const base = server.baseUrl;
    const userToken = await devLogin(base, 'bench-project-stream@example.com');
    const projectId = await createProject(base, userToken, 'Project stream bench');
    const messages = `${base}/api/v1/projects/${projectId}/messages`;
    const eventsPath = `/api/v1/projects/${projectId}/events`;

    // A reply being written: the user's message, its agent.reply leased, the assistant message opened.
    const asked = await ok<{ message: { id: string } }>(call(messages, userToken, { content: 'bench' }), 201);
    const lease = await ok<{ token: string }>(call(`${base}/api/v1/worker/leases`, workerToken, { kinds: ['agent.reply'] }), 201);
    const reply = await ok<{ message: { id: string } }>(
      call(messages, lease.token, { role: 'assistant', reply_to: asked.message.id }),
      201,
    );
    let seq = 0;
    const delta = () => ok(call(`${messages}/${reply.message.id}/deltas`, lease.token, { seq: ++seq, text: String(epochMs()) }), 202);
    for (let i = 0; i < 20; i++) await delta(); // warm-up

    const before = await settled();
    clients = startWorker({ label: 'sse-clients', script: path.join(ctx.root, 'bench/clients/sse-clients.ts'), cwd: ctx.root, fileLimit });
    const port = Number(new URL(base).port);
    const t0 = performance.now();
    const opened = await clients.request<{ connected: number; failed: number; errors: Record<string, number> }>({
      cmd: 'connect',
      host: '127.0.0.1',
      port,
      path: eventsPath,
      token: userToken,
      clients: STREAMS,
      concurrency: 100,
    });
    const connectMs = performance.now() - t0;
    ctx.log(`${opened.connected} project streams open in ${int(connectMs)} ms`);
    await sleep(2_000);
    const idle = await settled();
    const perStreamKb = (idle.rssKb - before.rssKb) / opened.connected;
    const perStreamHeapKb = (idle.heapKb - before.heapKb) / opened.connected;
    ctx.log(`memory per stream: ${fixed(perStreamKb)} KiB RSS, ${fixed(perStreamHeapKb)} KiB heap`);

    const watcher = await probe(`${base}${eventsPath}`, userToken);
    await watcher.opened;
    const started = performance.now();
    const posts: Promise<unknown>[] = [];
    for (let i = 0; i < DELTAS; i++) {
      const wait = started + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      posts.push(delta());
      // Deltas must arrive in seq order: the next one waits for this one's answer.
      await posts[posts.length - 1];
    }
    const deadline = performance.now() + 30_000;
    while (watcher.latencies.length < DELTAS && performance.now() < deadline) await sleep(100);
    watcher.close();
    const latencies = [...watcher.latencies].sort((a, b) => a - b);
    ctx.log(`delta → client p50 ${fixed(percentile(latencies, 50), 2)} ms, p99 ${fixed(percentile(latencies, 99), 2)} ms`);
    await clients.request({ cmd: 'close' });

    // 10,000 messages, then random pages.
    const writeStart = performance.now();
    for (let i = 0; i < MESSAGES; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, MESSAGES - i) }, (_, k) =>
          ok(call(messages, userToken, { content: `m${i + k}`, reply: false }), 201),
        ),
      );
    }
    ctx.log(`${MESSAGES} messages written in ${fixed((performance.now() - writeStart) / 1000)} s`);
    const reads: number[] = [];
    for (let i = 0; i < READS; i++) {
      const before_ = i % 10 === 0 ? '' : `&before=${1 + Math.floor(Math.random() * MESSAGES)}`;
      const r0 = performance.now();
      await ok(call(`${messages}?limit=50${before_}`, userToken), 200);
      reads.push(performance.now() - r0);
    }
    reads.sort((a, b) => a - b);
    ctx.log(`messages page read p50 ${fixed(percentile(reads, 50), 2)} ms, p99 ${fixed(percentile(reads, 99), 2)} ms`);

    const body = [
      ...sectionHead({
        name: ctx.name,
        title: ctx.title,
        command: ctx.command,
        machine: ctx.machine,
        method:
          `the app (bench/servers/app.ts) in its own process, in-process bus, embedded PostgreSQL 18 of the scenario's own (fsync off), ` +
          `rate limits 0. ${STREAMS} project streams on one project held by bare-socket clients in another process; a probe stream in the ` +
          `bench process opened last; ${DELTAS} deltas at ${RATE}/s by an operation token, each carrying the sender's clock (taken before ` +
          `its POST), latency to the probe's receipt. Memory: RSS (median of 3) and JS heap after a full GC, before and after the streams ` +
          `opened. Messages: ${MESSAGES} written through the API, then ${READS} sequential GET /messages?limit=50 (one in ten the newest ` +
          `page, the rest with a random before).`,
      }),
      '',
      '| measure | value |',
      '|---|---:|',
      `| project streams open / failed | ${int(opened.connected)} / ${int(opened.failed)} (opened in ${int(connectMs)} ms) |`,
      `| delta → client p50 (ms) | ${fixed(percentile(latencies, 50), 2)} |`,
      `| delta → client p99 (ms) | ${fixed(percentile(latencies, 99), 2)} |`,
      `| deltas received by the probe | ${int(latencies.length)} / ${int(DELTAS)} |`,
      `| RSS per open project stream (KiB) | ${fixed(perStreamKb)} |`,
      `| JS heap per open project stream (KiB) | ${fixed(perStreamHeapKb)} |`,
      `| messages page read p50 (ms), ${int(MESSAGES)} messages | ${fixed(percentile(reads, 50), 2)} |`,
      `| messages page read p99 (ms), ${int(MESSAGES)} messages | ${fixed(percentile(reads, 99), 2)} |`,
    ].join('\n');
    return { body, full: STREAMS >= 1_000 && MESSAGES >= 10_000 };
  } finally {
    await clients?.stop();
    await server.stop();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

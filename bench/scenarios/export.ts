import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createParser } from 'eventsource-parser';
import { userWithProject } from '../lib/api.js';
import { type BenchRedis, startRedis } from '../lib/redis.js';
import { sectionHead } from '../lib/report.js';
import { startServer } from '../lib/server-process.js';
import { fixed, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `export` (issue 17): POST /exports → `export.completed` on the operation stream, for a project
 * of four 100 KB documents, one export at a time (the user's click); and the server's RSS while it
 * builds: with those documents, and with four ~880 KB documents (the largest a version may be) (the archive streams, one document
 * in memory at a time). Goal: p95 < 2 s.
 */
const DEFAULT_RUNS = 50;
const WORDS = 'idea agent spec plan architecture user story risk market value test deploy document version stream'.split(' ');

function markdown(bytes: number, seed: number): string {
  let s = `# Document ${seed}\n\n`;
  let i = seed;
  while (s.length < bytes) {
    i = (i * 1103515245 + 12345) & 0x7fffffff;
    s += `${WORDS[i % WORDS.length]}${i % 11 === 0 ? '.\n' : ' '}`;
  }
  return s.slice(0, bytes);
}

function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN);
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function call(base: string, token: string, method: string, p: string, body?: unknown): Promise<Response> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res;
}

/** One export: ms from before the POST to the arrival of its terminal event. */
async function exportOnce(base: string, token: string, projectId: string): Promise<number> {
  const t0 = performance.now();
  const created = (await (await call(base, token, 'POST', `/api/v1/projects/${projectId}/exports`, {})).json()) as {
    operation: { id: string };
  };
  const res = await fetch(`${base}/api/v1/projects/${projectId}/operations/${created.operation.id}/events`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'last-event-id': '0' },
  });
  let done = false;
  let last = '';
  const parser = createParser({
    onEvent: (e) => {
      last = e.event ?? '';
      if (e.event === 'export.completed' || e.event === 'export.failed' || e.event === 'operation.failed') done = true;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    if (done) break;
  }
  if (last !== 'export.completed') throw new Error(`export ended with ${last}`);
  return performance.now() - t0;
}

async function phase(base: string, token: string, projectId: string, pid: number, runs: number) {
  const baseline = rssKiB(pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssKiB(pid));
  }, 10);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < runs; i++) latencies.push(await exportOnce(base, token, projectId));
  } finally {
    clearInterval(sampler);
  }
  return { latencies, baseline, peak };
}

export async function exportScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const runs = intFromEnv('BENCH_EXPORT_RUNS', DEFAULT_RUNS, 1);
  const redis: BenchRedis = await startRedis();
  const server = await startServer({
    label: ctx.name,
    script: path.join(ctx.root, 'bench/servers/app.ts'),
    cwd: ctx.root,
    env: {
      BENCH_APP_ENV: JSON.stringify({
        REDIS_URL: redis.url,
        RATE_LIMIT_PER_MINUTE_IP: '0',
        RATE_LIMIT_PER_MINUTE_USER: '0',
        RATE_LIMIT_PER_MINUTE_PROJECT: '0',
      }),
    },
    nodeArgs: ctx.cpuProfArgs(ctx.name),
  });
  try {
    const pid = server.pid as number;
    const base = server.baseUrl;
    const { token, projectId } = await userWithProject(base);
    const types = ['about', 'specs', 'architecture', 'plan'];
    for (const [i, type] of types.entries()) {
      await call(base, token, 'POST', `/api/v1/projects/${projectId}/documents/${type}/versions`, { content: markdown(100_000, i + 1) });
    }
    for (let i = 0; i < 3; i++) await exportOnce(base, token, projectId); // warm-up
    ctx.log(`${runs} exports of 4 × 100 KB`);
    const small = await phase(base, token, projectId, pid, runs);

    const { projectId: bigProject } = await userWithProject(base);
    for (const [i, type] of types.entries()) {
      await call(base, token, 'POST', `/api/v1/projects/${bigProject}/documents/${type}/versions`, { content: markdown(880_000, i + 7) });
    }
    ctx.log('10 exports of 4 × 880 KB');
    const big = await phase(base, token, bigProject, pid, 10);

    const row = (label: string, r: { latencies: number[]; baseline: number; peak: number }) =>
      `| ${label} | ${r.latencies.length} | **${Math.round(percentile(r.latencies, 50))}** | ${Math.round(percentile(r.latencies, 95))} | ` +
      `${Math.round(percentile(r.latencies, 99))} | ${Math.round(Math.max(...r.latencies))} | ${fixed(r.baseline / 1024)} | ${fixed(r.peak / 1024)} |`;
    const p95 = percentile(small.latencies, 95);
    const body = [
      ...sectionHead({
        ...ctx,
        method:
          'The real app (bench/servers/app.ts: embedded PostgreSQL 18, its own redis-server), rate limits off. One project with the latest ' +
          'version of each of the four document types at 100 KB of Markdown-like text (another with ~880 KB each); exports one after another: ' +
          'POST …/exports, then the operation stream from Last-Event-ID 0 until `export.completed`; latency from before the POST to that ' +
          'event. 3 warm-up exports. RSS of the server process (VmRSS) sampled every 10 ms during each series; baseline = before it.',
      }),
      '',
      '| documents | exports | p50 ms | p95 ms | p99 ms | max ms | RSS before (MiB) | RSS peak (MiB) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      row('4 × 100 KB', small),
      row('4 × 880 KB', big),
      '',
      `- Goal (issue 17): p95 < 2 s for 4 × 100 KB — ${p95 < 2000 ? 'met' : 'NOT met'} (${Math.round(p95)} ms).`,
    ].join('\n');
    return { body, full: runs >= DEFAULT_RUNS };
  } finally {
    await server.stop();
    await redis.stop();
  }
}

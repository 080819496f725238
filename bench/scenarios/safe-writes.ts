import { existsSync } from 'node:fs';
import path from 'node:path';
import { userWithProject } from '../lib/api.js';
import { alternateRounds, type LoadTarget, type RequestSpec, type TargetSummary } from '../lib/load.js';
import { ratioOf, sectionHead, table } from '../lib/report.js';
import { type RunningServer, startServer } from '../lib/server-process.js';
import { int, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `safe-writes` (issue 18, docs/adr/0021): what the audit insert and the idempotency check cost
 * on the write path. BEFORE is a checkout of the commit without them (BENCH_BASE_DIR), AFTER
 * this tree; each app with its own embedded PostgreSQL, measured in the same run, rounds
 * alternating. Two writes: `POST /projects` and `POST …/documents/about/versions`, each as
 * before (no audit, no key), after without a key (audit insert only) and after with a new
 * `Idempotency-Key` on every request (audit + claim + kept response). Goal: after+key ≥ 85 %
 * of before on both.
 */
const MIN_RATIO = 0.85;
const LIMITS_OFF = { RATE_LIMIT_PER_MINUTE_IP: '0', RATE_LIMIT_PER_MINUTE_USER: '0', RATE_LIMIT_PER_MINUTE_PROJECT: '0' };

interface Side {
  readonly label: 'before' | 'after';
  readonly server: RunningServer;
  readonly token: string;
  readonly projectId: string;
}

async function startSide(ctx: ScenarioContext, label: Side['label'], root: string): Promise<Side> {
  ctx.log(`starting ${label} (${root})`);
  const server = await startServer({
    label: `${ctx.name}/${label}`,
    script: path.join(root, 'bench/servers/app.ts'),
    cwd: root,
    env: { BENCH_APP_ENV: JSON.stringify(LIMITS_OFF) },
    nodeArgs: ctx.cpuProfArgs(label),
  });
  const { token, projectId } = await userWithProject(server.baseUrl);
  return { label, server, token, projectId };
}

function writes(side: Side): Record<'create' | 'version', RequestSpec> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${side.token}` };
  return {
    create: { method: 'POST', path: '/api/v1/projects', headers, body: JSON.stringify({ name: 'Bench write', language: 'en' }) },
    version: {
      method: 'POST',
      path: `/api/v1/projects/${side.projectId}/documents/about/versions`,
      headers,
      body: JSON.stringify({ content: `# About\n\n${'A paragraph of a typical document. '.repeat(30)}`, metadata: { source: 'bench' } }),
    },
  };
}

export async function safeWritesScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const baseDir = process.env.BENCH_BASE_DIR;
  if (!baseDir || !existsSync(path.join(baseDir, 'bench/servers/app.ts')) || !existsSync(path.join(baseDir, 'node_modules'))) {
    throw new Error(
      'safe-writes: set BENCH_BASE_DIR to a checkout of the commit without issue 18, with node_modules ' +
        '(e.g. mkdir /tmp/base && git archive 4f64122 | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/)',
    );
  }
  const rounds = intFromEnv('BENCH_ROUNDS', 3, 1);
  const duration = intFromEnv('BENCH_DURATION', 5, 1);
  const warmup = intFromEnv('BENCH_WARMUP', 3, 0);
  const connections = intFromEnv('BENCH_WRITE_CONNECTIONS', 16, 1);
  const sides: Side[] = [];
  const summaries: Record<'create' | 'version', TargetSummary[]> = { create: [], version: [] };
  try {
    sides.push(await startSide(ctx, 'before', path.resolve(baseDir)));
    sides.push(await startSide(ctx, 'after', ctx.root));
    for (const write of ['create', 'version'] as const) {
      const targets: LoadTarget[] = [];
      for (const side of sides) {
        const spec = writes(side)[write];
        const base = { baseUrl: side.server.baseUrl, pid: side.server.pid };
        targets.push({ label: side.label, ...base, spec });
        if (side.label === 'after') targets.push({ label: 'after+key', ...base, spec: { ...spec, uniqueHeader: 'idempotency-key' } });
      }
      ctx.log(`${write}: ${targets.map((t) => t.label).join(' → ')}`);
      summaries[write] = await alternateRounds(targets, {
        connections,
        durationSeconds: duration,
        warmupSeconds: warmup,
        rounds,
        maxForeignCpu: ctx.maxForeignCpu,
        retries: 3,
        quietWaitMs: ctx.quietWaitMs,
        onProgress: ctx.log,
      });
    }
  } finally {
    for (const side of sides) await side.server.stop();
  }

  const describe = (label: string) =>
    label === 'before'
      ? 'base commit: the write alone'
      : label === 'after'
        ? 'this tree, no key: the write and its audit entry in one transaction'
        : 'this tree, a new Idempotency-Key each request: claim (INSERT … ON CONFLICT), the write and its audit entry, the kept response (UPDATE)';
  const lines: string[] = [];
  for (const write of ['create', 'version'] as const) {
    const rs = summaries[write];
    const audit = ratioOf(rs, { numerator: 'after', denominator: 'before' });
    const keyed = ratioOf(rs, { numerator: 'after+key', denominator: 'before' });
    const title = write === 'create' ? 'POST /api/v1/projects' : 'POST /api/v1/projects/{id}/documents/about/versions';
    lines.push(
      `### ${title}`,
      '',
      table({ summaries: rs, describe }),
      '',
      `- after/before = ${audit.toFixed(2)} (audit insert: ${Math.round((1 - audit) * 100)} % overhead)`,
      `- **after+key/before = ${keyed.toFixed(2)}** (audit + idempotency: ${Math.round((1 - keyed) * 100)} % overhead) — goal ≥ ${MIN_RATIO.toFixed(2)}: ${keyed >= MIN_RATIO ? 'goal met' : 'goal MISSED'}`,
      `- before ${int(rs.find((s) => s.label === 'before')?.medianReqPerSec ?? 0)} req/s, after ${int(rs.find((s) => s.label === 'after')?.medianReqPerSec ?? 0)}, after+key ${int(rs.find((s) => s.label === 'after+key')?.medianReqPerSec ?? 0)}.`,
      '',
    );
  }
  const body = [
    ...sectionHead({
      name: ctx.name,
      title: ctx.title,
      command: ctx.command,
      machine: ctx.machine,
      method:
        `BEFORE = BENCH_BASE_DIR, AFTER = this tree; each app (bench/servers/app.ts of its own tree) with its own embedded PostgreSQL, no Redis, ` +
        `rate limits 0, LOG_LEVEL=warn. ${connections} connections, ${warmup} s warm-up per target, ${rounds} rounds of ${duration} s alternating ` +
        'before → after → after+key, median. after and after+key are the same process. Every request is a real write (a new project, a new version).',
    }),
    '',
    ...lines,
  ].join('\n');
  return { body, full: rounds >= 3 && duration >= 5 };
}

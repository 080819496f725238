import path from 'node:path';
import { userWithProject } from '../lib/api.js';
import { alternateRounds, type LoadTarget, type RequestSpec, type TargetSummary } from '../lib/load.js';
import { type PatchedCopy, patchedCopy } from '../lib/patched-copy.js';
import { cpuPerRequest, disturbedNote, ratioOf, sectionHead, table } from '../lib/report.js';
import { type RunningServer, startServer } from '../lib/server-process.js';
import { int, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `safe-writes` (issue 18, docs/adr/0021): what the audit insert and the idempotency check cost
 * on the write path, and nothing else. WITHOUT is a copy of this very tree with
 * bench/patches/safe-writes-without.patch applied (it removes the audit insert and the
 * idempotency step, nothing more), WITH this tree; each app with its own embedded PostgreSQL,
 * measured in the same run, rounds alternating. Two writes: `POST /projects` and
 * `POST …/documents/about/versions`, each without (the write alone), with (the write and its
 * audit entry) and with+key (and a new `Idempotency-Key` on every request: claim, kept
 * response). Goal (issue 18): ≤ 15 % overhead for with+key on both, in req/s and in CPU per request.
 */
const MAX_OVERHEAD = 0.15;
const PATCH = 'bench/patches/safe-writes-without.patch';
const LIMITS_OFF = { RATE_LIMIT_PER_MINUTE_IP: '0', RATE_LIMIT_PER_MINUTE_USER: '0', RATE_LIMIT_PER_MINUTE_PROJECT: '0' };

interface Side {
  /** `without`, `with`, or a variant's name (BENCH_SAFE_WRITES_VARIANTS). */
  readonly label: string;
  readonly server: RunningServer;
  readonly token: string;
  readonly projectId: string;
}

async function startSide(ctx: ScenarioContext, label: string, root: string): Promise<Side> {
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

type Write = 'create' | 'version';
const WRITES: readonly Write[] = ['create', 'version'];
const TITLES: Record<Write, string> = {
  create: 'POST /api/v1/projects',
  version: 'POST /api/v1/projects/{id}/documents/about/versions',
};

function describeTarget(label: string): string {
  if (label === 'without') return `this tree with ${PATCH}: the write alone`;
  if (label === 'with') return 'this tree, no key: the write and its audit entry in one transaction';
  if (label === 'with+key') return 'this tree, a new Idempotency-Key each request: claim, the write and its audit entry, the kept response';
  const variant = label.replace(/\+key$/, '');
  return `this tree with the variant patch ${variant}${label.endsWith('+key') ? ', a new Idempotency-Key each request' : ', no key'}`;
}

/**
 * BENCH_SAFE_WRITES_VARIANTS: comma-separated patch files, each served as one more side (a copy
 * of this tree with that patch), to measure one change against this tree in the same run, e.g.
 * the reverse of an optimisation (`git diff -R <commit>~ <commit> -- src > /tmp/old-audit.patch`).
 */
function variantPatches(): string[] {
  const raw = process.env.BENCH_SAFE_WRITES_VARIANTS ?? '';
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** Overhead of `label` over WITHOUT, by req/s and by server CPU per request (PostgreSQL included). */
function overheadLines(rs: readonly TargetSummary[], label: string, what: string): string {
  const byRate = 1 / ratioOf(rs, { numerator: label, denominator: 'without' }) - 1;
  const cost = (l: string) => {
    const found = rs.find((s) => s.label === l);
    return found === undefined ? undefined : cpuPerRequest(found);
  };
  const mine = cost(label);
  const base = cost('without');
  const byCpu = mine && base ? mine.server / base.server - 1 : Number.NaN;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${Math.round(x * 100)} %`;
  const met = byRate <= MAX_OVERHEAD && byCpu <= MAX_OVERHEAD;
  const cpu =
    mine && base
      ? `CPU ${int(base.server)} → ${int(mine.server)} µs/req (${pct(byCpu)}; Node alone ${int(base.node)} → ${int(mine.node)})`
      : 'CPU ?';
  const text = `${label} vs without (${what}): req/s cost ${pct(byRate)}, ${cpu}`;
  return label.endsWith('+key')
    ? `- **${text}** — goal ≤ ${Math.round(MAX_OVERHEAD * 100)} % on both: ${met ? 'goal met' : 'goal MISSED'}`
    : `- ${text}`;
}

export async function safeWritesScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rounds = intFromEnv('BENCH_ROUNDS', 3, 1);
  const duration = intFromEnv('BENCH_DURATION', 5, 1);
  const warmup = intFromEnv('BENCH_WARMUP', 3, 0);
  const connections = intFromEnv('BENCH_WRITE_CONNECTIONS', 16, 1);
  const sides: Side[] = [];
  const summaries: Record<Write, TargetSummary[]> = { create: [], version: [] };
  const copies: PatchedCopy[] = [];
  try {
    const base = await patchedCopy(ctx.root, path.join(ctx.root, PATCH));
    copies.push(base);
    sides.push(await startSide(ctx, 'without', base.dir));
    sides.push(await startSide(ctx, 'with', ctx.root));
    for (const patch of variantPatches()) {
      const copy = await patchedCopy(ctx.root, path.resolve(patch));
      copies.push(copy);
      sides.push(await startSide(ctx, path.basename(patch, '.patch'), copy.dir));
    }
    for (const write of WRITES) {
      const targets: LoadTarget[] = [];
      for (const side of sides) {
        const spec = writes(side)[write];
        const server = { baseUrl: side.server.baseUrl, pid: side.server.pid };
        targets.push({ label: side.label, ...server, spec });
        if (side.label !== 'without') {
          targets.push({ label: `${side.label}+key`, ...server, spec: { ...spec, uniqueHeader: 'idempotency-key' } });
        }
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
    for (const copy of copies) await copy.remove();
  }

  const lines: string[] = [];
  for (const write of WRITES) {
    const rs = summaries[write];
    lines.push(
      `### ${TITLES[write]}`,
      '',
      table({ summaries: rs, describe: describeTarget }),
      '',
      ...sides
        .filter((side) => side.label !== 'without')
        .flatMap((side) => [
          overheadLines(rs, side.label, 'the audit insert'),
          overheadLines(rs, `${side.label}+key`, 'the audit insert and the idempotency key'),
        ]),
      ...disturbedNote(rs),
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
        `WITHOUT = a copy of this tree (src/, bench/, package.json, tsconfig.json; node_modules linked) with \`${PATCH}\` applied, ` +
        'which removes only the audit insert (`AuditLog.record` returns at once) and the two idempotency hooks; WITH = this tree. ' +
        `Each app (bench/servers/app.ts) with its own embedded PostgreSQL (durable: fsync on), no Redis, rate limits 0, LOG_LEVEL=warn. ` +
        `${connections} connections, ${warmup} s warm-up per target, ${rounds} rounds of ${duration} s alternating without → with → with+key (→ each variant, no key and keyed), ` +
        'median; a round disturbed by other processes is redone. with and with+key are the same process. Every request is a real write ' +
        '(a new project, a new version). CPU µs/req = CPU of the server process tree (Node and its PostgreSQL) / requests; the steadier figure.',
    }),
    '',
    ...lines,
  ].join('\n');
  return { body, full: rounds >= 3 && duration >= 5 };
}

import path from 'node:path';
import { cpuUse, sampleCpu } from '../lib/cpu.js';
import { waitForQuiet } from '../lib/quiet.js';
import { sectionHead } from '../lib/report.js';
import { median } from '../lib/stats.js';
import { startWorker } from '../lib/worker.js';
import { fixed, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `repo-read` (issue 3): what a repository read costs over the same SQL sent raw through `pg`,
 * in one process and one run (bench/micro/repo-read.ts does the reads). Batches of each variant
 * alternate, in a rotating order, so drift of the machine spreads over all of them; medians.
 * Two loads: one read at a time (the latency a request sees, mostly the round trip to
 * PostgreSQL) and 16 in flight (closer to a busy server, where the client-side CPU decides).
 * CPU µs per read is the Node process's own CPU (process.cpuUsage), PostgreSQL's excluded: the
 * overhead of a layer is CPU, and wall time mostly waits for the database.
 */
const VARIANTS = ['repository', 'kysely', 'pg'] as const;
const QUERIES = ['membership', 'project'] as const;
const MODES = [1, 16] as const;
const DEFAULT_BATCHES = 10;
const DEFAULT_OPS = 2_000;
const WARMUP_BATCHES = 2;
const RETRIES = 3;

type Variant = (typeof VARIANTS)[number];

interface BatchResult {
  readonly wallUs: number;
  readonly cpuUs: number;
}

const DESCRIBE: Record<Variant, string> = {
  repository: "the app's repository method on createDatabase()'s handle (Kysely + CamelCasePlugin, p-retry connect, sqlcommenter wrapper)",
  kysely: 'the same repository method on a plain Kysely + CamelCasePlugin over a plain pg.Pool',
  pg: "pool.query(text, values) on the app handle's pg.Pool, the SQL and parameters Kysely sent",
};

export async function repoReadScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const batches = intFromEnv('BENCH_REPO_BATCHES', DEFAULT_BATCHES, 1);
  const opsPerBatch = intFromEnv('BENCH_REPO_OPS', DEFAULT_OPS, 10);
  const worker = startWorker({
    label: 'repo-read',
    script: path.join(import.meta.dirname, '..', 'micro', 'repo-read.ts'),
    cwd: ctx.root,
    nodeArgs: ctx.cpuProfArgs('worker'),
  });
  const results = new Map<string, BatchResult[]>();
  let disturbed = 0;
  let queries: Record<string, string>;
  try {
    ctx.log('starting PostgreSQL and seeding');
    queries = (await worker.request<{ queries: Record<string, string> }>({ cmd: 'setup' }, 120_000)).queries;
    for (const inFlight of MODES) {
      for (const query of QUERIES) {
        const ops = opsPerBatch * (inFlight === 1 ? 1 : 4);
        const once = (variant: Variant) => worker.request<BatchResult>({ cmd: 'batch', variant, query, ops, inFlight });
        for (let i = 0; i < WARMUP_BATCHES; i++) for (const variant of VARIANTS) await once(variant);
        for (let round = 0; round < batches; round++) {
          // Rotate the order so that no variant always runs right after the same other one.
          const order = VARIANTS.map((_v, i) => VARIANTS[(i + round) % VARIANTS.length] as Variant);
          await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
          for (const variant of order) {
            let before = sampleCpu(worker.pid);
            let r = await once(variant);
            let others = cpuUse(before, sampleCpu(worker.pid))?.others ?? 0;
            for (let retry = 0; retry < RETRIES && others > ctx.maxForeignCpu; retry++) {
              await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
              before = sampleCpu(worker.pid);
              r = await once(variant);
              others = cpuUse(before, sampleCpu(worker.pid))?.others ?? 0;
            }
            if (others > ctx.maxForeignCpu) disturbed++;
            const key = `${inFlight}/${query}/${variant}`;
            results.set(key, [...(results.get(key) ?? []), r]);
          }
        }
        const line = VARIANTS.map((v) => {
          const rs = results.get(`${inFlight}/${query}/${v}`) ?? [];
          return `${v} ${fixed(median(rs.map((r) => r.wallUs)))} µs (CPU ${fixed(median(rs.map((r) => r.cpuUs)))})`;
        }).join(', ');
        ctx.log(`${query}, ${inFlight} in flight: ${line}`);
      }
    }
  } finally {
    await worker.stop();
  }

  const rows: string[] = [];
  const verdicts: string[] = [];
  for (const inFlight of MODES) {
    for (const query of QUERIES) {
      const med = (v: Variant, pick: (r: BatchResult) => number) => median((results.get(`${inFlight}/${query}/${v}`) ?? []).map(pick));
      const pgWall = med('pg', (r) => r.wallUs);
      const pgCpu = med('pg', (r) => r.cpuUs);
      for (const v of VARIANTS) {
        const wall = med(v, (r) => r.wallUs);
        const cpu = med(v, (r) => r.cpuUs);
        rows.push(
          `| ${query} | ${inFlight} | ${v} | ${fixed(wall)} | ${fixed(cpu)} | ${fixed(wall / pgWall, 2)} | ${fixed(cpu / pgCpu, 2)} | ${fixed(cpu - pgCpu)} |`,
        );
      }
      const repoCpu = med('repository', (r) => r.cpuUs);
      const kyselyCpu = med('kysely', (r) => r.cpuUs);
      verdicts.push(
        `- ${query}, ${inFlight} in flight: the repository read costs **${fixed(med('repository', (r) => r.wallUs) / pgWall, 2)}× the wall time** and ` +
          `**${fixed(repoCpu / pgCpu, 2)}× the client CPU** of raw pg (+${fixed(repoCpu - pgCpu)} µs CPU per read: Kysely ${fixed(kyselyCpu - pgCpu)}, the app's wrapper ${fixed(repoCpu - kyselyCpu)}).`,
      );
    }
  }
  const body = [
    ...sectionHead({
      ...ctx,
      method:
        `no HTTP: one worker process with its own embedded PostgreSQL 18 (migrated, one user, one project, one membership) reads the same row three ways: ` +
        `${VARIANTS.map((v) => `**${v}** = ${DESCRIBE[v]}`).join('; ')}. Batches of ${opsPerBatch} reads (×4 with 16 in flight), ` +
        `${WARMUP_BATCHES} warm-up batches per variant, then ${batches} rounds of one batch per variant in a rotating order, each round after ` +
        `waiting for a quiet machine (a batch during which others used > ${ctx.maxForeignCpu} % of a CPU is redone ≤ ${RETRIES} times); medians of the batches. ` +
        "CPU = the worker process's own (process.cpuUsage), PostgreSQL excluded.",
    }),
    `- SQL (membership, the access guard's query): \`${queries.membership}\``,
    `- SQL (project, ProjectsRepository.get): \`${queries.project}\``,
    '',
    '| query | in flight | variant | µs per read (wall) | client CPU µs per read | wall vs pg | CPU vs pg | CPU µs over pg |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    ...verdicts,
    '- No target is set for this overhead in issue 3; these figures are the record.',
    ...(disturbed > 0
      ? [`- ${disturbed} batch(es) stayed disturbed by other processes after every retry: read these figures with care.`]
      : []),
  ].join('\n');
  return { body, full: batches >= DEFAULT_BATCHES && opsPerBatch >= DEFAULT_OPS };
}

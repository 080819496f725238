import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../../src/lib/free-port.js';
import { waitForQuiet } from '../lib/quiet.js';
import { sectionHead } from '../lib/report.js';
import { median } from '../lib/stats.js';
import { fixed, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `startup` (issue 3): from starting the server process to the first 200 of
 * /api/v1/health/ready, with the embedded PostgreSQL — a first start on an empty DATA_DIR
 * (initdb, then migrations) and a warm restart on the same directory.
 *
 * The command is `npm start`'s own, `node --import ./dist/telemetry/preload.js dist/server.js`,
 * on a fresh build of the current src/ (`npm start` builds first; the build is a deploy step,
 * timed once, not part of the start). The build goes to a temporary directory laid out like the
 * image (dist/, package.json, node_modules — the last two symlinked), so the repository's own
 * dist/, which someone may be running, is left alone, and no .env in the working directory
 * applies. No OTLP endpoint: the preload loads and installs nothing, as in a default start.
 */
const DEFAULT_RUNS = 5;
const POLL_MS = 5;
const run = promisify(execFile);

interface StartTiming {
  /** ms from spawn to each log message we know (first occurrence). */
  readonly marks: Map<string, number>;
  readonly readyMs: number;
  readonly stopMs: number;
}

/** Log messages of src/ that split a start into phases, in the order they appear. */
const PHASES: ReadonlyArray<readonly [string, RegExp]> = [
  ['postgres', /embedded PostgreSQL 18 started/],
  ['migrations', /migrations applied/],
  ['listening', /Server listening/],
];

async function ready(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
    throw new Error('the server did not stop within 20 s of SIGTERM');
  }
  return performance.now() - t0;
}

async function timeStart(buildRoot: string, dataDir: string, log: (line: string) => void): Promise<StartTiming> {
  const port = await freePort();
  const marks = new Map<string, number>();
  const output: string[] = [];
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', './dist/telemetry/preload.js', 'dist/server.js'], {
    cwd: buildRoot,
    // Only what the start needs: no DATABASE_URL (embedded), no OTLP endpoint, info-level logs for the phases.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').catch(() => undefined);
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      const at = performance.now() - t0;
      output.push(line);
      for (const [name, pattern] of PHASES) if (!marks.has(name) && pattern.test(line)) marks.set(name, at);
    });
  }
  try {
    const url = `http://127.0.0.1:${port}/api/v1/health/ready`;
    let readyMs: number | undefined;
    while (readyMs === undefined) {
      if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before ready:\n${output.slice(-10).join('\n')}`);
      if (performance.now() - t0 > 120_000) throw new Error(`not ready after 120 s:\n${output.slice(-10).join('\n')}`);
      if (await ready(url)) readyMs = performance.now() - t0;
      else await sleep(POLL_MS);
    }
    const stopMs = await stopChild(child, exited);
    if (child.exitCode !== 0) log(`exit code ${child.exitCode} after SIGTERM:\n${output.slice(-5).join('\n')}`);
    // The app stops its PostgreSQL on close: a cluster still running would skew the next start.
    if (existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))) throw new Error('PostgreSQL still running after the server stopped');
    return { marks, readyMs, stopMs };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/** Builds src/ as `npm run build` does, into a temporary root laid out like the image. */
async function build(root: string): Promise<{ dir: string; ms: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-build-'));
  try {
    const t0 = performance.now();
    await run(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', path.join(dir, 'dist')], {
      cwd: root,
    });
    const ms = performance.now() - t0;
    await symlink(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    return { dir, ms };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function phaseCells(t: StartTiming): string {
  const at = (name: string) => t.marks.get(name);
  const parts = PHASES.map(([name]) => {
    const ms = at(name);
    return ms === undefined ? '–' : String(Math.round(ms));
  });
  return parts.join(' / ');
}

export async function startupScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const runs = intFromEnv('BENCH_STARTUP_RUNS', DEFAULT_RUNS, 1);
  ctx.log('building src/ into a temporary directory');
  const built = await build(ctx.root);
  const cold: StartTiming[] = [];
  const warm: StartTiming[] = [];
  try {
    for (let i = 1; i <= runs; i++) {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-start-'));
      try {
        await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
        const c = await timeStart(built.dir, dataDir, ctx.log);
        cold.push(c);
        ctx.log(
          `run ${i}/${runs} first start: ready in ${Math.round(c.readyMs)} ms (postgres/migrations/listening at ${phaseCells(c)} ms)`,
        );
        await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
        const w = await timeStart(built.dir, dataDir, ctx.log);
        warm.push(w);
        ctx.log(
          `run ${i}/${runs} warm restart: ready in ${Math.round(w.readyMs)} ms (postgres/migrations/listening at ${phaseCells(w)} ms)`,
        );
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    await rm(built.dir, { recursive: true, force: true });
  }

  const row = (label: string, timings: readonly StartTiming[]) => {
    const med = (name: string) => {
      const values = timings.flatMap((t) => {
        const v = t.marks.get(name);
        return v === undefined ? [] : [v];
      });
      return values.length === 0 ? '–' : String(Math.round(median(values)));
    };
    return `| ${label} | **${Math.round(median(timings.map((t) => t.readyMs)))}** | ${timings.map((t) => Math.round(t.readyMs)).join(' / ')} | ${PHASES.map(([name]) => med(name)).join(' | ')} | ${Math.round(median(timings.map((t) => t.stopMs)))} |`;
  };
  const body = [
    ...sectionHead({
      ...ctx,
      method:
        `\`node --import ./dist/telemetry/preload.js dist/server.js\` (what \`npm start\` runs after its build) on a fresh \`tsc -p tsconfig.build.json\` ` +
        `build of src/ (${fixed(built.ms / 1000)} s, not counted), NODE_ENV=development, no DATABASE_URL (embedded PostgreSQL 18 in DATA_DIR/postgres, ` +
        `DATA_DIR in ${tmpdir()}), no OTLP endpoint, LOG_LEVEL=info. Ready = the first 200 of GET /api/v1/health/ready, polled every ${POLL_MS} ms ` +
        `from the spawn. ${runs} runs, each a first start on an empty DATA_DIR (initdb + migrations) followed by a warm restart on the same ` +
        `directory, each after waiting for a quiet machine; median of the runs. Phases: when the app logged "embedded PostgreSQL 18 started", ` +
        '"migrations applied" (first start only) and "Server listening", in ms from the spawn. Stop: SIGTERM to exit, PostgreSQL included.',
    }),
    '',
    '| start | median ms to ready | ms to ready per run | postgres started (median ms) | migrations applied | listening | stop (median ms) |',
    '|---|---:|---|---:|---:|---:|---:|',
    row('first start (initdb)', cold),
    row('warm restart', warm),
    '',
    '- No target is set for start-up in issue 3; these figures are the record.',
  ].join('\n');
  return { body, full: runs >= DEFAULT_RUNS };
}

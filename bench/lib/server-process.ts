import { spawn } from 'node:child_process';
import { once } from 'node:events';
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
  readonly readyTimeoutMs?: number;
  /** Pin the server (and its children, e.g. PostgreSQL) to this CPU with taskset. */
  readonly cpu?: number;
}

export interface RunningServer {
  readonly baseUrl: string;
  readonly pid: number | undefined;
  readonly stop: () => Promise<void>;
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
  const nodeCommand = [process.execPath, ...(options.nodeArgs ?? []), '--import', 'tsx', options.script];
  const [command, ...args] = options.cpu === undefined ? nodeCommand : ['taskset', '-c', String(options.cpu), ...nodeCommand];
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
        console.error(`[${options.label}] ${line}`);
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

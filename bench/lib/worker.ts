import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileLimitPrefix } from './server-process.js';

/**
 * A helper process the parent drives by messages (Node's IPC channel): SSE clients, a
 * micro-benchmark. Each request is one message `{ id, ... }` answered by one `{ id, ... }`;
 * the worker side is `serveRequests` below. Load stays out of the parent's event loop, and
 * its CPU can be read per process.
 */
export interface Worker {
  readonly pid: number;
  readonly request: <T>(message: Record<string, unknown>, timeoutMs?: number) => Promise<T>;
  readonly stop: () => Promise<void>;
}

export interface WorkerOptions {
  readonly label: string;
  readonly script: string;
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly nodeArgs?: readonly string[];
  /** Open files the worker needs: raised with prlimit if the inherited limit is lower. */
  readonly fileLimit?: number;
}

interface Reply {
  readonly id: number;
  readonly error?: string;
}

export function startWorker(options: WorkerOptions): Worker {
  const nodeCommand = [process.execPath, ...(options.nodeArgs ?? []), '--import', 'tsx', options.script];
  const [command, ...args] = [...fileLimitPrefix(options.fileLimit), ...nodeCommand];
  const child: ChildProcess = spawn(command as string, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit').catch(() => undefined);
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let next = 1;
  child.on('message', (message: Reply) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(`${options.label}: ${message.error}`));
    else waiter.resolve(message);
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${options.label}: exited (code ${code}, signal ${signal})`));
    pending.clear();
  });

  const request = <T>(message: Record<string, unknown>, timeoutMs = 600_000): Promise<T> => {
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${options.label}: no answer to ${JSON.stringify(message).slice(0, 100)} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      child.send({ ...message, id });
    });
  };

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Closing the channel is the worker's signal to clean up and exit (see serveRequests).
    child.disconnect();
    const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!done) {
      console.error(`[${options.label}] did not exit within 20 s; killing it`);
      child.kill('SIGKILL');
      await exited;
    }
  };
  if (child.pid === undefined) throw new Error(`${options.label}: could not start`);
  return { pid: child.pid, request, stop };
}

/**
 * The worker side: answers each request with `handle`'s result; when the parent closes the
 * channel (or dies), runs `cleanup` and exits.
 */
export function serveRequests(
  handle: (message: Record<string, unknown>) => Promise<Record<string, unknown>>,
  cleanup: () => Promise<void>,
): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('a bench worker must be started with an IPC channel (bench/lib/worker.ts)');
  process.on('message', (message: Record<string, unknown>) => {
    handle(message).then(
      (result) => send({ ...result, id: message.id }),
      (error: unknown) => send({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
  process.once('disconnect', () => {
    cleanup().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}

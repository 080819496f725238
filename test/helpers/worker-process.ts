import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { closeWhenFileEnds } from './fixtures.js';
import { until } from './wait.js';

export interface WorkerLine {
  readonly msg: string;
  readonly pid: number;
  readonly operation_id?: string;
  readonly attempt?: number;
  readonly [key: string]: unknown;
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly lines: WorkerLine[];
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  readonly waitFor: (predicate: (line: WorkerLine) => boolean, timeoutMs?: number) => Promise<WorkerLine>;
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * A real worker process: the fake example agent (scripts/example-worker.ts) on the worker SDK,
 * run by this Node with tsx. Killed when the test file ends.
 */
export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  const root = path.resolve(import.meta.dirname, '../..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/example-worker.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: WorkerLine[] = [];
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as WorkerLine);
      } catch {
        // not ours
      }
      nl = buffer.indexOf('\n');
    }
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  closeWhenFileEnds(() => stop('SIGKILL').then(() => undefined));
  const waitFor = async (predicate: (line: WorkerLine) => boolean, timeoutMs = 15_000) => {
    try {
      await until(() => lines.some(predicate), timeoutMs, 25);
    } catch (error) {
      throw new Error(`worker ${child.pid}: no such line; stderr: ${stderr.slice(-2000)}`, { cause: error });
    }
    return lines.find(predicate) as WorkerLine;
  };
  return { child, lines, exited, waitFor, stop };
}

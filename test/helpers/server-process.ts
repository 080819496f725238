import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  readonly waitForLine: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
}

import { freePort } from '../../src/lib/free-port.js';

export { freePort };

/** The same preload the production command uses (`node --import <preload> <server>`). */
export const TELEMETRY_PRELOAD = ['--import', './src/telemetry/preload.ts'];

/** The real entry point (`src/server.ts`) in a child process, with only the given environment. */
export function spawnServer(
  env: Record<string, string>,
  entry = 'src/server.ts',
  args: string[] = [],
  nodeFlags: string[] = [],
  cwd = ROOT,
): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...nodeFlags, entry, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal, atMs: performance.now() });
      // A process that dies after its last line: waiters learn it now, not at their timeout.
      for (const w of waiters.splice(0)) w();
    });
  });
  const waitForLine = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`)), timeoutMs);
      const check = () => {
        const line = out.split('\n').find((l) => pattern.test(l));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(line);
        } else if (child.exitCode !== null) {
          clearTimeout(timer);
          reject(new Error(`server exited (${child.exitCode}) before ${pattern}; output:\n${out}`));
        } else {
          waiters.push(check);
        }
      };
      check();
    });
  return { child, stdout: () => out, exited, waitForLine };
}

export interface TracedServer {
  readonly server: ServerProcess;
  readonly base: string;
}

/**
 * The real entry point as production starts it (telemetry preload), exporting OTLP/HTTP JSON
 * to `collectorUrl`, with rate limits off (the telemetry tests send bursts from one IP).
 */
export async function spawnTracedServer(collectorUrl: string, env: Record<string, string>): Promise<TracedServer> {
  const port = await freePort();
  const server = spawnServer(
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ENV: 'test',
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      RATE_LIMIT_PER_MINUTE_IP: '0',
      RATE_LIMIT_PER_MINUTE_USER: '0',
      ...env,
    },
    'src/server.ts',
    [],
    TELEMETRY_PRELOAD,
  );
  return { server, base: `http://127.0.0.1:${port}` };
}

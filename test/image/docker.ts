import { execFile } from 'node:child_process';
import { inject } from 'vitest';

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The docker CLI the tier's set-up found (never the one first on PATH, which may lack BuildKit). */
export function docker(args: readonly string[], timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(inject('dockerCli'), args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

/** Like `docker`, but a non-zero exit is an error naming the command and its stderr. */
export async function dockerOk(args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await docker(args, timeoutMs);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

export interface ContainerState {
  readonly Status: string;
  readonly Running: boolean;
  readonly ExitCode: number;
  readonly OOMKilled: boolean;
  readonly Health?: { readonly Status: string };
}

export async function stateOf(container: string): Promise<ContainerState> {
  return JSON.parse(await dockerOk(['inspect', '--format', '{{json .State}}', container])) as ContainerState;
}

/** Both streams of the container's output, in the order docker keeps them per stream. */
export async function logsOf(container: string): Promise<string> {
  const r = await docker(['logs', container]);
  return `${r.stdout}${r.stderr}`;
}

/**
 * Polls `probe` until it returns a value; fails at once, with the container's output, when the
 * container has stopped (a crash at start is the answer, not a timeout later).
 */
export async function whileRunning<T>(container: string, what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    const state = await stateOf(container);
    if (!state.Running) {
      throw new Error(
        `waiting for ${what}: the container ${state.Status} with code ${state.ExitCode}; its output:\n${await logsOf(container)}`,
      );
    }
    if (performance.now() > deadline)
      throw new Error(`waiting for ${what}: none within ${timeoutMs} ms; output:\n${await logsOf(container)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { type ServerProcess, spawnServer, TELEMETRY_PRELOAD } from '../server-process.js';

export interface ServerExit {
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() in this process when the exit was seen. */
  readonly atMs: number;
  /** The last of what the process wrote (its crash reason, usually). */
  readonly tail: string;
}

/** How long a supervisor waits before starting a process that exited (systemd's RestartSec). */
const RESTART_DELAY_MS = 500;

/**
 * The real entry point as production starts it (`node --import <telemetry preload> server`),
 * on a fixed port, under a supervisor that records every exit and starts it again — as an
 * orchestrator would — so a crash is counted and the rest of the run still measures something.
 */
export class SupervisedServer {
  readonly exits: ServerExit[] = [];
  readonly pids: number[] = [];
  private current: ServerProcess;
  private stopping = false;
  /** What the processes that already exited wrote. */
  private earlierOutput = '';

  private constructor(
    private readonly env: Record<string, string>,
    readonly port: number,
  ) {
    this.current = this.spawn();
  }

  static start(env: Record<string, string>, port: number): SupervisedServer {
    return new SupervisedServer({ ...env, PORT: String(port), HOST: '127.0.0.1' }, port);
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.current.child.pid;
  }

  /** Everything the current process wrote so far. */
  output(): string {
    return this.current.stdout();
  }

  /** Everything every process of the run wrote (its JSON log lines, with correlation ids). */
  allOutput(): string {
    return this.earlierOutput + this.current.stdout();
  }

  private spawn(): ServerProcess {
    const server = spawnServer(this.env, 'src/server.ts', [], TELEMETRY_PRELOAD);
    if (server.child.pid !== undefined) this.pids.push(server.child.pid);
    void server.exited.then(async ({ code, signal, atMs }) => {
      if (this.stopping) return;
      this.earlierOutput += server.stdout();
      this.exits.push({ pid: server.child.pid, code, signal, atMs, tail: server.stdout().slice(-50_000) });
      await sleep(RESTART_DELAY_MS);
      if (!this.stopping) this.current = this.spawn();
    });
    return server;
  }

  /** Polls `GET /api/v1/health/live` until it answers 200. */
  async waitLive(timeoutMs = 60_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const res = await fetch(`${this.base}/api/v1/health/live`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      await res?.arrayBuffer();
      if (res?.status === 200) return;
      await sleep(100);
    }
    throw new Error(`server not live within ${timeoutMs} ms; output:\n${this.output().slice(-3000)}`);
  }

  /** SIGTERM (not an exit the supervisor counts); resolves when the process is gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    const { child, exited } = this.current;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }
}

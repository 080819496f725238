import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type App, buildApp } from '../../src/app.js';
import type { LogLevel } from '../../src/config.js';
import { configFrom, type Env } from '../../src/config.js';
import { closeWhenFileEnds, once } from './fixtures.js';
import { captureLogs, type LogLine } from './log-capture.js';

export interface RunningApp {
  readonly app: App;
  readonly baseUrl: string;
  readonly logs: LogLine[];
  readonly rawLogs: string[];
  /** fetch against the running server, path relative to the base URL. */
  readonly request: (path: string, init?: RequestInit) => Promise<Response>;
  readonly close: () => Promise<void>;
}

let dataDir: string | undefined;
/** One data directory per test file (generated signing keys land there, never in the repo). */
function testDataDir(): string {
  dataDir ??= mkdtempSync(path.join(tmpdir(), 'jeex-test-data-'));
  return dataDir;
}

export interface StartOptions {
  readonly logLevel?: LogLevel;
  /** Extra routes for this test's instance only (never in the production route table). */
  readonly extend?: (app: App) => void | Promise<void>;
  /** Start-up connection backoff (REL-002); short by default so failing tests fail fast. */
  readonly startupBackoffMs?: number;
  /** Listening address; 127.0.0.1 unless a test needs clients from another address (0.0.0.0). */
  readonly host?: string;
}

/**
 * The real app, listening on a free port: tests go through real HTTP (`baseUrl` is on
 * 127.0.0.1). `env` is what an operator would set; NODE_ENV defaults to test. The app closes
 * itself when the test file ends (fixtures.ts); `close()` may be called earlier.
 */
export async function startApp(env: Env, opts: StartOptions = {}): Promise<RunningApp> {
  // Rate limits are off unless a test sets them: most files send hundreds of requests from
  // one IP in seconds; the limiter has its own tests.
  const config = configFrom({
    NODE_ENV: 'test',
    LOG_LEVEL: opts.logLevel ?? 'info',
    DATA_DIR: testDataDir(),
    RATE_LIMIT_PER_MINUTE_IP: '0',
    RATE_LIMIT_PER_MINUTE_USER: '0',
    RATE_LIMIT_PER_MINUTE_PROJECT: '0',
    ...env,
  });
  const capture = captureLogs(config.logLevel);
  const app = await buildApp(config, { logger: capture.logger, startupBackoffMs: opts.startupBackoffMs ?? 20 });
  await opts.extend?.(app);
  const close = once(() => app.close());
  closeWhenFileEnds(close);
  await app.listen({ host: opts.host ?? '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    app,
    baseUrl,
    logs: capture.lines,
    rawLogs: capture.raw,
    request: (path, init) => fetch(`${baseUrl}${path}`, init),
    close,
  };
}

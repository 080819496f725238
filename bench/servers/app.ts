import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import type * as AppModule from '../../src/app.js';
import type * as ConfigModule from '../../src/config.js';
import type * as LoggerModule from '../../src/lib/logger.js';
import { announceReady, MEMORY_KEY } from '../lib/serve.js';

/**
 * The real app, built exactly as src/server.ts builds it, so requests go through the whole
 * chain (correlation id, security headers, CORS, request log, error handler). It gets its own
 * embedded PostgreSQL in a throw-away DATA_DIR: the bench never touches a developer's data.
 * Only LOG_LEVEL and the variables a scenario lists in BENCH_APP_ENV (a JSON object: REDIS_URL,
 * RATE_LIMIT_*, SSE_*) reach the config; an operator's DATABASE_URL or .env must not leak in.
 * OTEL_* variables are read by the telemetry preload itself, from the process environment.
 *
 * BENCH_APP_SRC: the `src/` directory to build the app from (default: this checkout's), so one
 * run can measure the code of another commit beside this one (`BENCH_BASE_DIR` in run.ts).
 * BENCH_LOG_DEST: a file the app's log lines go to instead of stdout (the harness passes
 * /dev/null at LOG_LEVEL=info: the lines are formatted and written by the same synchronous
 * write, but the parent — which also runs the load generator — does not read them).
 */
function scenarioEnv(): Record<string, string> {
  const raw = process.env.BENCH_APP_ENV;
  if (raw === undefined || raw === '') return {};
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new Error('BENCH_APP_ENV: a JSON object of strings');
  }
  return parsed as Record<string, string>;
}

const srcRoot = path.resolve(process.env.BENCH_APP_SRC || path.join(import.meta.dirname, '../../src'));
const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(srcRoot, file)).href) as Promise<T>;
const { buildApp } = await load<typeof AppModule>('app.js');
const { configFrom } = await load<typeof ConfigModule>('config.js');
const { createLogger } = await load<typeof LoggerModule>('lib/logger.js');

// With --expose-gc (sse-fanout), SIGUSR2 collects garbage so that RSS readings compare live
// memory rather than how far the young generation happened to have grown, then reports where
// the memory is (JS heap, off-heap buffers) on a `benchMemory` line, which the parent reads.
const gc: unknown = Reflect.get(globalThis, 'gc');
if (typeof gc === 'function') {
  process.on('SIGUSR2', () => {
    gc();
    process.stdout.write(`${JSON.stringify({ [MEMORY_KEY]: process.memoryUsage() })}\n`);
  });
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-'));
const removeDataDir = () => rm(dataDir, { recursive: true, force: true });

try {
  const config = configFrom({
    NODE_ENV: 'development',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...scenarioEnv(),
    DATA_DIR: dataDir,
  });
  const logDest = process.env.BENCH_LOG_DEST;
  const logger = logDest ? createLogger(config.logLevel, pino.destination({ dest: logDest, sync: true })) : undefined;
  const app = await buildApp(config, logger ? { logger } : {});
  try {
    await app.listen({ host: '127.0.0.1', port: 0, backlog: config.listenBacklog });
  } catch (error) {
    await app.close();
    throw error;
  }
  announceReady((app.server.address() as AddressInfo).port, async () => {
    await app.close();
    await removeDataDir();
  });
} catch (error) {
  await removeDataDir();
  throw error;
}

import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { announceReady, MEMORY_KEY } from '../lib/serve.js';

/**
 * The real app, built exactly as src/server.ts builds it, so requests go through the whole
 * chain (correlation id, security headers, CORS, request log, error handler). It gets its own
 * embedded PostgreSQL in a throw-away DATA_DIR: the bench never touches a developer's data.
 * Only LOG_LEVEL and the variables a scenario lists in BENCH_APP_ENV (a JSON object: REDIS_URL,
 * RATE_LIMIT_*, SSE_*) reach the config; an operator's DATABASE_URL or .env must not leak in.
 * OTEL_* variables are read by the telemetry preload itself, from the process environment.
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
  const app = await buildApp(config);
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
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

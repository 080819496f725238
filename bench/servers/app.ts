import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { announceReady } from '../lib/serve.js';

/**
 * The real app, built exactly as src/server.ts builds it, so requests go through the whole
 * chain (correlation id, security headers, CORS, request log, error handler). It gets its own
 * embedded PostgreSQL in a throw-away DATA_DIR: the bench never touches a developer's data.
 * Only LOG_LEVEL is taken from the environment (a scenario may ask for `info` to price the
 * request log line); an operator's DATABASE_URL or .env must not leak in.
 */
const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-'));
const removeDataDir = () => rm(dataDir, { recursive: true, force: true });

try {
  const config = configFrom({ NODE_ENV: 'development', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', DATA_DIR: dataDir });
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

import { readFileSync } from 'node:fs';
import closeWithGrace from 'close-with-grace';
import dotenv from 'dotenv';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { createLogger } from './lib/logger.js';
import { shutdownTelemetry } from './telemetry/state.js';

/**
 * Entry point (STYLE 1): config → app → listen; owns signals and exit codes. Nothing
 * else in the code touches `process`.
 */
dotenv.config({ quiet: true });

const result = loadConfig(process.env, (path) => readFileSync(path, 'utf8'));
if (!result.ok) {
  const logger = createLogger('info');
  for (const problem of result.problems) logger.fatal({ problem }, `invalid configuration: ${problem}`);
  logger.flush();
  process.exit(1);
}
const config = result.config;
const logger = createLogger(config.logLevel);

// Any failure to start is one fatal line and exit 1: a rejected start-up step, and also an
// error thrown outside it (a child process's 'error' event, a promise nobody awaited) until
// close-with-grace takes those over once the server listens.
const startupFailed = (error: unknown): never => {
  logger.fatal({ err: error }, `start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  logger.flush();
  process.exit(1);
};
process.on('uncaughtException', startupFailed);
process.on('unhandledRejection', startupFailed);

let app: Awaited<ReturnType<typeof buildApp>>;
try {
  app = await buildApp(config, { logger });
  await app.listen({ host: config.host, port: config.port, backlog: config.listenBacklog });
} catch (error) {
  startupFailed(error);
}
process.off('uncaughtException', startupFailed);
process.off('unhandledRejection', startupFailed);

// SIGTERM/SIGINT: stop accepting, finish in-flight requests, close resources in reverse
// order (Fastify's onClose), exit 0; a second signal or the deadline exits 1 (REQ-001.5).
closeWithGrace(
  {
    delay: config.shutdownTimeoutMs,
    logger: { error: (msg: unknown) => logger.error({ err: msg }, 'shutdown problem') },
  },
  async ({ signal, err }) => {
    if (err) logger.error({ err }, 'fatal error, shutting down');
    logger.info({ signal }, 'shutting down');
    await app.close();
    // Spans still queued get one short chance to leave; a dead collector cannot hold us (REQ-001.5).
    await shutdownTelemetry(Math.max(200, config.shutdownTimeoutMs - 3_000));
    logger.info('shutdown complete');
  },
);

import { readFileSync } from 'node:fs';
import dotenv from 'dotenv';
import type { Kysely } from 'kysely';
import { type Config, loadConfig } from '../config.js';
import { createDatabase, type DatabaseHandle } from '../db/database.js';
import { startEmbeddedPostgres } from '../db/embedded-postgres.js';
import type { Database } from '../db/types.js';
import { createLogger } from '../lib/logger.js';

/** Config and a database for the command-line tools; problems end the process with code 1. */
export async function openCli(opts: {
  allowEmbedded: boolean;
}): Promise<{ config: Config; db: Kysely<Database>; close: () => Promise<void> }> {
  dotenv.config({ quiet: true });
  const result = loadConfig(process.env, (p) => readFileSync(p, 'utf8'));
  if (!result.ok) {
    for (const problem of result.problems) console.error(`invalid configuration: ${problem}`);
    process.exit(1);
  }
  const config = result.config;
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  let url = config.databaseUrl;
  let stopEmbedded: () => Promise<void> = async () => undefined;
  if (url === undefined) {
    if (!opts.allowEmbedded) {
      console.error('DATABASE_URL: required for this command');
      process.exit(1);
    }
    const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, onNotice: (message) => console.error(message) });
    url = embedded.url();
    stopEmbedded = embedded.stop;
  }
  const handle: DatabaseHandle = createDatabase({
    url,
    poolMin: 0,
    poolMax: 2,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    logger,
  });
  return {
    config,
    db: handle.db,
    close: async () => {
      await handle.close();
      await stopEmbedded();
    },
  };
}

/**
 * Runs one command-line task with config and database, closes them whatever happens, and
 * exits 0, or 1 with the error's message on stderr.
 */
export async function runCli(
  opts: { allowEmbedded: boolean },
  task: (cli: { config: Config; db: Kysely<Database> }) => Promise<void>,
): Promise<never> {
  let cli: Awaited<ReturnType<typeof openCli>>;
  try {
    cli = await openCli(opts);
  } catch (error) {
    // A start-up failure (the embedded database, a bad URL) is one line and exit 1, not a stack.
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
  const { config, db, close } = cli;
  let code = 0;
  try {
    await task({ config, db });
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    code = 1;
  } finally {
    await close();
  }
  process.exit(code);
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { buildApp } from '../src/app.js';
import { configFrom } from '../src/config.js';

/**
 * The OpenAPI document exactly as `GET /openapi.json` serves it, from the real route table.
 * Building the app needs a database (the routes' plugins connect at registration): the one in
 * `databaseUrl`, or else a throw-away embedded PostgreSQL in a temporary directory. The
 * document is built in development mode, so it includes the development-only dev-login route
 * that the typed client and the tests use.
 */
export async function generateOpenApiDocument(databaseUrl: string | undefined = process.env.DATABASE_URL): Promise<unknown> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-openapi-'));
  try {
    const config = configFrom({ NODE_ENV: 'development', DATA_DIR: dataDir, DATABASE_URL: databaseUrl });
    const app = await buildApp(config, { logger: pino({ level: 'warn' }) });
    try {
      await app.ready();
      return app.swagger();
    } finally {
      await app.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Stable text for files that are committed and compared: two-space JSON with a final newline. */
export function documentText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

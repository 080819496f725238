import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../../src/db/types.js';

/** A Kysely handle on a test database configured like the app's (snake_case ↔ camelCase). */
export function testKysely(url: string): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  // A database dropped `with (force)` at the end of a file terminates (57P01) any connection
  // still closing: without listeners that error is unhandled and fails the run (as in
  // src/db/database.ts, each client gets its own, docs/adr/0015).
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
  });
}

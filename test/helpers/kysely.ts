import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../../src/db/types.js';

/** A Kysely handle on a test database configured like the app's (snake_case ↔ camelCase). */
export function testKysely(url: string): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 5 }) }),
    plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
  });
}

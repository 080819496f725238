import type { Kysely } from 'kysely';
import { migrateDown, migrateToLatest } from '../db/migrator.js';
import { openCli } from './cli-context.js';

/** `npm run migrate` (up) and `npm run migrate:down [-- --all]` against DATABASE_URL. */
const direction = process.argv[2] ?? 'up';
if (direction !== 'up' && direction !== 'down') {
  console.error('usage: migrate up | down [--all]');
  process.exit(2);
}
const { db, close } = await openCli({ allowEmbedded: false });
let code = 0;
try {
  const ran =
    direction === 'up'
      ? await migrateToLatest(db as Kysely<unknown>)
      : await migrateDown(db as Kysely<unknown>, process.argv.includes('--all'));
  console.error(ran.length === 0 ? 'nothing to do' : ran.join('\n'));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  code = 1;
} finally {
  await close();
}
process.exit(code);

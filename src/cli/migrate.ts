import type { Kysely } from 'kysely';
import { migrateDown, migrateToLatest } from '../db/migrator.js';
import { runCli } from './cli-context.js';

/** `npm run migrate` (up) and `npm run migrate:down [-- --all]` against DATABASE_URL. */
const direction = process.argv[2] ?? 'up';
if (direction !== 'up' && direction !== 'down') {
  console.error('usage: migrate up | down [--all]');
  process.exit(2);
}
await runCli({ allowEmbedded: false }, async ({ db }) => {
  const ran =
    direction === 'up'
      ? await migrateToLatest(db as Kysely<unknown>)
      : await migrateDown(db as Kysely<unknown>, process.argv.includes('--all'));
  console.error(ran.length === 0 ? 'nothing to do' : ran.join('\n'));
});

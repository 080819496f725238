import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { loadSigningKeys } from '../auth/keys.js';
import { TokenService } from '../auth/tokens.js';
import { migrateToLatest } from '../db/migrator.js';
import { UsersRepository } from '../repositories/users.repository.js';
import { openCli } from './cli-context.js';

/**
 * Development tool: `npm run token -- --email a@b.c [--name A]` upserts the user and prints
 * a signed access token (stdout: the token only, so it can be captured by a script).
 */
const { values } = parseArgs({ options: { email: { type: 'string' }, name: { type: 'string' } } });
if (!values.email || !/^[^@\s]+@[^@\s]+$/.test(values.email)) {
  console.error('usage: npm run token -- --email a@b.c [--name "A Name"]');
  process.exit(2);
}
const { config, db, close } = await openCli({ allowEmbedded: true });
let code = 0;
try {
  if (config.databaseUrl === undefined) await migrateToLatest(db as Kysely<unknown>);
  const user = await new UsersRepository(db).upsertByEmail(values.email, values.name ?? values.email.split('@')[0] ?? values.email);
  const tokens = new TokenService(await loadSigningKeys(config), {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    expiresInMinutes: config.accessTokenExpireMinutes,
  });
  const { access_token } = await tokens.issue(user.id);
  process.stdout.write(`${access_token}\n`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  code = 1;
} finally {
  await close();
}
process.exit(code);

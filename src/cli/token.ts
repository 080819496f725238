import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { loadSigningKeys } from '../auth/keys.js';
import { TokenService } from '../auth/tokens.js';
import { migrateToLatest } from '../db/migrator.js';
import { UsersRepository } from '../repositories/users.repository.js';
import { runCli } from './cli-context.js';

/**
 * Development tool: `npm run token -- --email a@b.c [--name A]` upserts the user and prints
 * a signed access token (stdout: the token only, so it can be captured by a script).
 */
const { values } = parseArgs({ options: { email: { type: 'string' }, name: { type: 'string' } } });
if (!values.email || !/^[^@\s]+@[^@\s]+$/.test(values.email)) {
  console.error('usage: npm run token -- --email a@b.c [--name "A Name"]');
  process.exit(2);
}
const email = values.email;
await runCli({ allowEmbedded: true }, async ({ config, db }) => {
  if (config.databaseUrl === undefined) await migrateToLatest(db as Kysely<unknown>);
  const user = await new UsersRepository(db).upsertByEmail(email, values.name ?? email.split('@')[0] ?? email);
  const tokens = new TokenService(await loadSigningKeys(config), {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    expiresInMinutes: config.accessTokenExpireMinutes,
  });
  const { access_token } = await tokens.issue(user.id);
  process.stdout.write(`${access_token}\n`);
});

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import dotenv from 'dotenv';
import type { Kysely } from 'kysely';
import { loadSigningKeys } from '../auth/keys.js';
import { TokenService, WORKER_NAME_PATTERN } from '../auth/tokens.js';
import { type Config, loadConfig } from '../config.js';
import { migrateToLatest } from '../db/migrator.js';
import { UsersRepository } from '../repositories/users.repository.js';
import { runCli } from './cli-context.js';

/**
 * Development tool, stdout: the token only, so a script can capture it.
 * - `npm run token -- --email a@b.c [--name A]` upserts the user and prints an access token;
 * - `npm run token -- --worker <name> [--days N]` prints a worker credential (docs/contract.md §8;
 *   default 30 days): it needs the signing key only, no database.
 */
const USAGE = 'usage: npm run token -- --email a@b.c [--name "A Name"]\n       npm run token -- --worker <name> [--days N]';
const { values } = parseArgs({
  options: { email: { type: 'string' }, name: { type: 'string' }, worker: { type: 'string' }, days: { type: 'string' } },
});

function tokenService(config: Config, keys: Awaited<ReturnType<typeof loadSigningKeys>>): TokenService {
  return new TokenService(keys, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    expiresInMinutes: config.accessTokenExpireMinutes,
  });
}

if (values.worker !== undefined) {
  const days = values.days === undefined ? 30 : Number(values.days);
  if (!WORKER_NAME_PATTERN.test(values.worker) || !Number.isFinite(days) || days <= 0 || days > 3650) {
    console.error(`${USAGE}\n(name: letters, digits, . _ -, at most 100; days: 0 < N ≤ 3650)`);
    process.exit(2);
  }
  dotenv.config({ quiet: true });
  const result = loadConfig(process.env, (p) => readFileSync(p, 'utf8'));
  if (!result.ok) {
    for (const problem of result.problems) console.error(`invalid configuration: ${problem}`);
    process.exit(1);
  }
  const tokens = tokenService(result.config, await loadSigningKeys(result.config));
  const { access_token } = await tokens.issueWorker(values.worker, days);
  process.stdout.write(`${access_token}\n`);
  process.exit(0);
}

if (!values.email || !/^[^@\s]+@[^@\s]+$/.test(values.email)) {
  console.error(USAGE);
  process.exit(2);
}
const email = values.email;
await runCli({ allowEmbedded: true }, async ({ config, db }) => {
  if (config.databaseUrl === undefined) await migrateToLatest(db as Kysely<unknown>);
  const user = await new UsersRepository(db).upsertByEmail(email, values.name ?? email.split('@')[0] ?? email);
  const { access_token } = await tokenService(config, await loadSigningKeys(config)).issue(user.id);
  process.stdout.write(`${access_token}\n`);
});

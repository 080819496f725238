import { sql } from 'kysely';
import type { User } from '../db/types.js';
import type { Db } from './scoped.repository.js';

/** Users are global (not project-scoped): identity, looked up by id or email. */
export class UsersRepository {
  constructor(private readonly db: Db) {}

  findById(id: string): Promise<User | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Creates the user or refreshes its name and last login; email is matched case-insensitively. */
  async upsertByEmail(email: string, name: string): Promise<User> {
    return this.db
      .insertInto('users')
      .values({ email: email.toLowerCase(), name, lastLoginAt: new Date() })
      .onConflict((oc) => oc.expression(sql`lower(email)`).doUpdateSet({ name: (eb) => eb.ref('excluded.name'), lastLoginAt: new Date() }))
      .returningAll()
      .executeTakeFirstOrThrow();
  }
}

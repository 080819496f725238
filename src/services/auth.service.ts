import { IdentityCache } from '../auth/identity-cache.js';
import type { IssuedToken, TokenService } from '../auth/tokens.js';
import type { User } from '../db/types.js';
import { UnauthorizedError } from '../lib/errors.js';
import type { UsersRepository } from '../repositories/users.repository.js';

/** Who is calling (REQ-007): a bearer token to a user, and the development login. */
export class AuthService {
  private readonly cache = new IdentityCache();

  constructor(
    private readonly tokens: TokenService,
    private readonly users: UsersRepository,
  ) {}

  /**
   * The existing user a valid token names, with the token's expiry (ms since epoch: a stream
   * ends then, docs/adr/0019); anything else is the same 401.
   */
  async identify(token: string): Promise<{ readonly user: User; readonly expiresAt: number }> {
    const cached = this.cache.lookup(token);
    if (cached) return cached;
    const { sub, expiresAt } = await this.tokens.verifyClaims(token);
    const user = await this.users.findById(sub);
    if (user === undefined) throw new UnauthorizedError('Unknown user');
    this.cache.set(token, user, expiresAt);
    return { user, expiresAt };
  }

  /** Development and test only (the route decides who may call it): upsert by email, sign a token. */
  async devLogin(email: string, name: string | undefined): Promise<IssuedToken> {
    const user = await this.users.upsertByEmail(email, name ?? email.split('@')[0] ?? email);
    return this.tokens.issue(user.id);
  }
}

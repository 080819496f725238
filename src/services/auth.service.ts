import type { Caller } from '../auth/caller.js';
import { IdentityCache } from '../auth/identity-cache.js';
import type { IssuedToken, TokenService } from '../auth/tokens.js';
import { UnauthorizedError } from '../lib/errors.js';
import type { UsersRepository } from '../repositories/users.repository.js';

/** Who is calling (REQ-007): a bearer token to a user, and the development login. */
export class AuthService {
  private readonly cache = new IdentityCache<Caller>();

  constructor(
    private readonly tokens: TokenService,
    private readonly users: UsersRepository,
  ) {}

  /**
   * The caller a valid token names (src/auth/caller.ts): an existing user, a worker, or an
   * operation token with its creator's user row; anything else is the same 401. An operation
   * token's lease and the creator's role are not checked here but by the project-access guard,
   * on every request (docs/adr/0020).
   */
  async identify(token: string): Promise<Caller> {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const claims = await this.tokens.verifyClaims(token);
    let caller: Caller;
    if (claims.kind === 'worker') {
      caller = claims;
    } else {
      const user = await this.users.findById(claims.sub);
      if (user === undefined) throw new UnauthorizedError('Unknown user');
      caller = claims.kind === 'user' ? { kind: 'user', user, expiresAt: claims.expiresAt } : { ...claims, user };
    }
    this.cache.set(token, caller, claims.expiresAt);
    return caller;
  }

  /** Development and test only (the route decides who may call it): upsert by email, sign a token. */
  async devLogin(email: string, name: string | undefined): Promise<IssuedToken> {
    const user = await this.users.upsertByEmail(email, name ?? email.split('@')[0] ?? email);
    return this.tokens.issue(user.id);
  }
}

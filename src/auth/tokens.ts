import { errors, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError } from '../lib/errors.js';
import { isUuid } from '../lib/uuid.js';
import type { SigningKeys } from './keys.js';

export interface TokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly expiresInMinutes: number;
}

export interface IssuedToken {
  readonly access_token: string;
  readonly token_type: 'bearer';
  readonly expires_in: number;
}

/** RS256 access tokens (REQ-007, SEC-003). Built once, in the composition root (src/services/index.ts). */
export class TokenService {
  constructor(
    readonly keys: SigningKeys,
    private readonly settings: TokenSettings,
  ) {}

  async issue(userId: string): Promise<IssuedToken> {
    const expiresIn = this.settings.expiresInMinutes * 60;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: this.keys.kid, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt()
      .setExpirationTime(`${expiresIn}s`)
      .sign(this.keys.privateKey);
    return { access_token: token, token_type: 'bearer', expires_in: expiresIn };
  }

  /**
   * The verified subject (a user id) and expiry (ms since epoch). The algorithm is pinned to
   * RS256 (no `none`, no HS256 with the public key as secret); signature, exp/nbf (5 s
   * tolerance), iss and aud are checked. Every failure is the same 401, with the reason only
   * in the log.
   */
  async verifyClaims(token: string): Promise<{ sub: string; expiresAt: number }> {
    try {
      const { payload } = await jwtVerify(token, this.keys.publicKey, {
        algorithms: ['RS256'],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: 5,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) throw new UnauthorizedError('Invalid token subject');
      return { sub: payload.sub, expiresAt: (payload.exp ?? 0) * 1000 };
    } catch (error) {
      if (error instanceof UnauthorizedError) throw error;
      if (error instanceof errors.JWTExpired) throw new UnauthorizedError('Token expired');
      if (error instanceof errors.JOSEError) throw new UnauthorizedError('Invalid token');
      throw new UnauthorizedError('Invalid token');
    }
  }
}

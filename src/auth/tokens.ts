import { errors, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError } from '../lib/errors.js';
import { isUuid } from '../lib/uuid.js';
import type { SigningKeys } from './keys.js';

export interface TokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly expiresInMinutes: number;
}

/** `sub` of a worker credential: `worker:<name>` (docs/contract.md §8). */
export const WORKER_SUBJECT_PREFIX = 'worker:';
/** A worker's name: what follows `worker:` (also `author.agent` of its messages). */
export const WORKER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/**
 * An operation token outlives no lease for long: the lease is checked on every request (docs/adr/0020);
 * this bound only limits what a leaked token is worth after its lease's end is forgotten.
 */
export const OPERATION_TOKEN_MINUTES = 60;

/** What a verified token says (docs/adr/0020): a user, a worker credential, or an operation token. */
export type TokenClaims =
  | { readonly kind: 'user'; readonly sub: string; readonly expiresAt: number }
  | { readonly kind: 'worker'; readonly worker: string; readonly expiresAt: number }
  | {
      readonly kind: 'operation';
      /** The operation's creator, for whom the worker acts. */
      readonly sub: string;
      readonly worker: string;
      readonly leaseId: string;
      readonly projectId: string;
      readonly operationId: string;
      readonly expiresAt: number;
    };

export interface OperationTokenGrant {
  readonly userId: string;
  readonly worker: string;
  readonly leaseId: string;
  readonly projectId: string;
  readonly operationId: string;
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
    return { access_token: await this.sign(userId, {}, expiresIn), token_type: 'bearer', expires_in: expiresIn };
  }

  /** A worker credential (docs/contract.md §8): `sub` = `worker:<name>`, `scope` = `worker`. */
  async issueWorker(name: string, days: number): Promise<IssuedToken> {
    if (!WORKER_NAME_PATTERN.test(name)) throw new Error(`invalid worker name: ${name}`);
    const expiresIn = Math.round(days * 24 * 3600);
    return {
      access_token: await this.sign(`${WORKER_SUBJECT_PREFIX}${name}`, { scope: 'worker' }, expiresIn),
      token_type: 'bearer',
      expires_in: expiresIn,
    };
  }

  /**
   * An operation token (docs/contract.md §8, RFC 8693 `act`): acts for the creator (`sub`) through
   * the worker, bound to one lease of one operation in one project.
   */
  issueOperation(grant: OperationTokenGrant): Promise<string> {
    return this.sign(
      grant.userId,
      {
        scope: 'operation',
        act: { sub: `${WORKER_SUBJECT_PREFIX}${grant.worker}` },
        lease_id: grant.leaseId,
        project_id: grant.projectId,
        operation_id: grant.operationId,
      },
      OPERATION_TOKEN_MINUTES * 60,
    );
  }

  private sign(subject: string, claims: Record<string, unknown>, expiresInSeconds: number): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: this.keys.kid, typ: 'JWT' })
      .setSubject(subject)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt()
      .setExpirationTime(`${expiresInSeconds}s`)
      .sign(this.keys.privateKey);
  }

  /**
   * The verified subject (a user id) and expiry (ms since epoch). The algorithm is pinned to
   * RS256 (no `none`, no HS256 with the public key as secret); signature, exp/nbf (5 s
   * tolerance), iss and aud are checked. Every failure is the same 401, with the reason only
   * in the log.
   */
  async verifyClaims(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.keys.publicKey, {
        algorithms: ['RS256'],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: 5,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      const expiresAt = (payload.exp ?? 0) * 1000;
      const sub = payload.sub;
      if (typeof sub !== 'string') throw new UnauthorizedError('Invalid token subject');
      if (payload.scope === 'worker') {
        const name = sub.startsWith(WORKER_SUBJECT_PREFIX) ? sub.slice(WORKER_SUBJECT_PREFIX.length) : '';
        if (!WORKER_NAME_PATTERN.test(name)) throw new UnauthorizedError('Invalid token subject');
        return { kind: 'worker', worker: name, expiresAt };
      }
      if (!isUuid(sub)) throw new UnauthorizedError('Invalid token subject');
      if (payload.scope === 'operation') return operationClaims(sub, payload, expiresAt);
      if (payload.scope !== undefined || payload.act !== undefined) throw new UnauthorizedError('Invalid token scope');
      return { kind: 'user', sub, expiresAt };
    } catch (error) {
      if (error instanceof UnauthorizedError) throw error;
      if (error instanceof errors.JWTExpired) throw new UnauthorizedError('Token expired');
      if (error instanceof errors.JOSEError) throw new UnauthorizedError('Invalid token');
      throw new UnauthorizedError('Invalid token');
    }
  }
}

function operationClaims(sub: string, payload: Record<string, unknown>, expiresAt: number): TokenClaims {
  const act = payload.act as { sub?: unknown } | undefined;
  const actor =
    typeof act?.sub === 'string' && act.sub.startsWith(WORKER_SUBJECT_PREFIX) ? act.sub.slice(WORKER_SUBJECT_PREFIX.length) : '';
  const { lease_id: leaseId, project_id: projectId, operation_id: operationId } = payload;
  if (!WORKER_NAME_PATTERN.test(actor) || !isUuidText(leaseId) || !isUuidText(projectId) || !isUuidText(operationId)) {
    throw new UnauthorizedError('Invalid operation token');
  }
  return { kind: 'operation', sub, worker: actor, leaseId, projectId, operationId, expiresAt };
}

function isUuidText(value: unknown): value is string {
  return typeof value === 'string' && isUuid(value);
}

import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SigningKeys } from '../../../src/auth/keys.js';
import { TokenService } from '../../../src/auth/tokens.js';

/* What verifyClaims makes of each kind of token (docs/contract.md §8, docs/adr/0020). */

let keys: SigningKeys;
let tokens: TokenService;
const settings = { issuer: 'jeex-api', audience: 'jeex', expiresInMinutes: 30 };

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  keys = { privateKey: pair.privateKey, publicKey: pair.publicKey, kid: 'k', publicJwk: await exportJWK(pair.publicKey) };
  tokens = new TokenService(keys, settings);
});

function signed(sub: string, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'k' })
    .setSubject(sub)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(keys.privateKey);
}

describe('TokenService.verifyClaims', () => {
  it('when given a worker credential, returns the worker name', async () => {
    const { access_token } = await tokens.issueWorker('agent-1', 1);
    expect(await tokens.verifyClaims(access_token)).toMatchObject({ kind: 'worker', worker: 'agent-1' });
  });

  it('when given an operation token, returns the creator, the worker, the lease, the project and the operation', async () => {
    const grant = { userId: randomUUID(), worker: 'agent-1', leaseId: randomUUID(), projectId: randomUUID(), operationId: randomUUID() };
    const claims = await tokens.verifyClaims(await tokens.issueOperation(grant));
    expect(claims).toMatchObject({ kind: 'operation', sub: grant.userId, worker: 'agent-1', leaseId: grant.leaseId });
  });

  it('when a worker or operation claim is missing or forged, refuses the token (401)', async () => {
    const user = randomUUID();
    const bad = [
      signed('worker:', { scope: 'worker' }),
      signed('agent-1', { scope: 'worker' }),
      signed(user, { scope: 'worker' }),
      signed(user, { scope: 'operation', act: { sub: 'worker:a' }, project_id: randomUUID(), operation_id: randomUUID() }),
      signed(user, {
        scope: 'operation',
        act: { sub: user },
        lease_id: randomUUID(),
        project_id: randomUUID(),
        operation_id: randomUUID(),
      }),
      signed(user, { scope: 'admin' }),
      signed(user, { act: { sub: 'worker:a' } }),
      signed('worker:a', {}),
    ];
    for (const token of await Promise.all(bad)) {
      await expect(tokens.verifyClaims(token)).rejects.toMatchObject({ statusCode: 401 });
    }
  });

  it('when given a user token, returns the user', async () => {
    const id = randomUUID();
    const { access_token } = await tokens.issue(id);
    expect(await tokens.verifyClaims(access_token)).toMatchObject({ kind: 'user', sub: id });
  });
});

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createUser, type TestUser } from '../../helpers/factories.js';

let db: TestDatabase;
let server: RunningApp;
let user: TestUser;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url });
  user = await createUser(server, 'Alice');
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Signs with the app's own private key, so only the claim under test is wrong. */
async function ownKeyToken(claims: { sub?: string; iss?: string; aud?: string; exp?: number; nbf?: number; iat?: number }) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: server.app.services.tokens.keys.kid });
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  jwt
    .setIssuer(claims.iss ?? 'jeex-api')
    .setAudience(claims.aud ?? 'jeex')
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 600);
  if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
  return jwt.sign(server.app.services.tokens.keys.privateKey);
}

async function me(authorization: string | undefined) {
  return server.request('/api/v1/auth/me', authorization === undefined ? {} : { headers: { authorization } });
}

describe('GET /api/v1/auth/me', () => {
  it('when the token is valid, returns the user', async () => {
    const res = await me(`Bearer ${user.token}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: user.id, email: user.email, name: 'Alice' });
  });

  const attacks: Array<[string, () => Promise<string | undefined>]> = [
    ['no header', async () => undefined],
    ['an empty bearer', async () => 'Bearer '],
    ['the wrong scheme', async () => `Basic ${Buffer.from('a:b').toString('base64')}`],
    ['garbage', async () => 'Bearer not.a.jwt'],
    [
      'alg none (unsigned)',
      async () => `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: user.id, iss: 'jeex-api', aud: 'jeex', exp: 9999999999 })}.`,
    ],
    [
      'HS256 signed with the public key as secret',
      async () => {
        const pem = new TextEncoder().encode(JSON.stringify(server.app.services.tokens.keys.publicJwk));
        const now = Math.floor(Date.now() / 1000);
        const t = await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(user.id)
          .setIssuer('jeex-api')
          .setAudience('jeex')
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .sign(pem);
        return `Bearer ${t}`;
      },
    ],
    [
      'another RSA key',
      async () => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const now = Math.floor(Date.now() / 1000);
        const t = await new SignJWT({})
          .setProtectedHeader({ alg: 'RS256', kid: server.app.services.tokens.keys.kid })
          .setSubject(user.id)
          .setIssuer('jeex-api')
          .setAudience('jeex')
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .sign(privateKey);
        return `Bearer ${t}`;
      },
    ],
    [
      'an expired token',
      async () =>
        `Bearer ${await ownKeyToken({ sub: user.id, iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 60 })}`,
    ],
    ['nbf in the future', async () => `Bearer ${await ownKeyToken({ sub: user.id, nbf: Math.floor(Date.now() / 1000) + 600 })}`],
    ['the wrong issuer', async () => `Bearer ${await ownKeyToken({ sub: user.id, iss: 'evil' })}`],
    ['the wrong audience', async () => `Bearer ${await ownKeyToken({ sub: user.id, aud: 'other' })}`],
    [
      'a tampered payload',
      async () => {
        const [h, , s] = user.token.split('.');
        return `Bearer ${h}.${b64({ sub: randomUUID(), iss: 'jeex-api', aud: 'jeex', exp: 9999999999, iat: 1 })}.${s}`;
      },
    ],
    ['no sub', async () => `Bearer ${await ownKeyToken({})}`],
    ['the sub of an unknown user', async () => `Bearer ${await ownKeyToken({ sub: randomUUID() })}`],
    ['a sub that is not a UUID', async () => `Bearer ${await ownKeyToken({ sub: "1' or '1'='1" })}`],
  ];

  it.each(attacks)('when given %s, answers 401 with WWW-Authenticate: Bearer', async (_name, make) => {
    const res = await me(await make());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    const body = (await res.json()) as { error: string; status_code: number };
    expect(body).toMatchObject({ error: 'unauthorized', status_code: 401 });
  });

  it('when the token is in an access_token query on a normal route, ignores it (401)', async () => {
    const res = await server.request(`/api/v1/auth/me?access_token=${user.token}`);
    expect(res.status).toBe(401);
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes a key that verifies a token issued by dev-login', async () => {
    const res = await server.request('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    const jwks = (await res.json()) as { keys: Array<{ kty: string; kid: string; alg: string; d?: string }> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0]?.d).toBeUndefined();
    const { payload, protectedHeader } = await jwtVerify(user.token, createLocalJWKSet(jwks as never), {
      issuer: 'jeex-api',
      audience: 'jeex',
    });
    expect(payload.sub).toBe(user.id);
    expect(protectedHeader.kid).toBe(jwks.keys[0]?.kid);
    expect(typeof payload.iat).toBe('number');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(30 * 60);
  });
});

describe('POST /api/v1/auth/dev-login', () => {
  it('when the same email logs in twice (any case), returns the same user', async () => {
    const a = await createUser(server, 'Bob');
    const again = await server.request('/api/v1/auth/dev-login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: a.email.toUpperCase(), name: 'Bob' }),
    });
    const { access_token } = (await again.json()) as { access_token: string };
    const res = await me(`Bearer ${access_token}`);
    expect(((await res.json()) as { id: string }).id).toBe(a.id);
  });

  it.each([
    ['a missing email', {}],
    ['an invalid email', { email: 'not-an-email' }],
    ['an email of the wrong type', { email: 42 }],
    ['an unknown field', { email: 'a@b.co', admin: true }],
    ['an empty name', { email: 'a@b.co', name: '' }],
  ])('when given %s, answers 422', async (_what, body) => {
    const res = await server.request('/api/v1/auth/dev-login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(422);
  });

  it('in production, does not exist (404)', async () => {
    const { generateKeyPairSync: gen } = await import('node:crypto');
    const { privateKey, publicKey } = gen('rsa', { modulusLength: 2048 });
    const prod = await startApp({
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      REDIS_URL: 'redis://127.0.0.1:1',
      QDRANT_URL: 'http://127.0.0.1:1',
      JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    try {
      const res = await prod.request('/api/v1/auth/dev-login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'a@b.co' }),
      });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toBe('not_found');
    } finally {
      await prod.close();
    }
  });
});

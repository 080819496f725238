import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const PEM_PRIVATE = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----';
const PEM_PUBLIC = '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----';
const PRODUCTION_OK = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://u:p@db:5432/jeex',
  REDIS_URL: 'redis://redis:6379',
  QDRANT_URL: 'http://qdrant:6333',
  JWT_PRIVATE_KEY: PEM_PRIVATE,
  JWT_PUBLIC_KEY: PEM_PUBLIC,
};

describe('loadConfig', () => {
  it('when nothing is set, returns the contract defaults, frozen', () => {
    const result = loadConfig({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const c = result.config;
    expect(c).toMatchObject({
      nodeEnv: 'development',
      host: '0.0.0.0',
      port: 5210,
      databasePoolMin: 10,
      databasePoolMax: 20,
      dataDir: './.data',
      redisMaxConnections: 50,
      qdrantCollection: 'jeex_embeddings',
      qdrantVectorSize: 1536,
      jwtIssuer: 'jeex-api',
      jwtAudience: 'jeex',
      accessTokenExpireMinutes: 30,
      logLevel: 'info',
      rateLimitPerMinuteIp: 300,
      rateLimitPerMinuteUser: 600,
      rateLimitPerMinuteProject: 1200,
      sseKeepaliveSeconds: 30,
      sseMaxBufferBytes: 10_485_760,
      sseReplayEvents: 1000,
      sseMaxStreams: 20_000,
      sseRetryMs: 2000,
      sseCapRetryAfterSeconds: 5,
      listenBacklog: 4096,
      auditRetentionDays: 365,
      devLoginAnyHost: false,
    });
    expect(c.corsOrigins).toEqual(['http://localhost:5200']);
    expect(c.databaseUrl).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.corsOrigins)).toBe(true);
  });

  it('when DEV_LOGIN_ANY_HOST=true, lets dev-login answer any host', () => {
    const result = loadConfig({ DEV_LOGIN_ANY_HOST: 'true' });
    expect(result.ok && result.config.devLoginAnyHost).toBe(true);
  });

  it('when a production environment is complete, accepts it', () => {
    const result = loadConfig(PRODUCTION_OK);
    expect(result.ok).toBe(true);
  });

  const badEnvironments: Array<[string, Record<string, string>, RegExp]> = [
    ['an unknown NODE_ENV', { NODE_ENV: 'staging' }, /^NODE_ENV: must be one of/],
    ['a non-numeric PORT', { PORT: 'eighty' }, /^PORT: must be an integer/],
    ['a PORT out of range', { PORT: '70000' }, /^PORT: must be between 0 and 65535/],
    ['a DATABASE_URL that is not a URL', { DATABASE_URL: 'not a url' }, /^DATABASE_URL: must be a URL/],
    ['a DATABASE_URL of another scheme', { DATABASE_URL: 'mysql://x/y' }, /^DATABASE_URL: must use postgres:/],
    ['a pool min above max', { DATABASE_POOL_MIN: '30', DATABASE_POOL_MAX: '20' }, /^DATABASE_POOL_MIN: must not exceed/],
    ['a zero pool max', { DATABASE_POOL_MAX: '0' }, /^DATABASE_POOL_MAX: must be between/],
    ['a REDIS_URL of another scheme', { REDIS_URL: 'http://redis' }, /^REDIS_URL: must use redis:/],
    ['a QDRANT_URL that is not a URL', { QDRANT_URL: '::' }, /^QDRANT_URL: must be a URL/],
    ['a QDRANT_VECTOR_SIZE of zero', { QDRANT_VECTOR_SIZE: '0' }, /^QDRANT_VECTOR_SIZE: must be between/],
    ['a CORS origin with a path', { CORS_ORIGINS: 'http://localhost:5200/app' }, /^CORS_ORIGINS: "http:\/\/localhost:5200\/app"/],
    ['a CORS wildcard', { CORS_ORIGINS: '*' }, /^CORS_ORIGINS: "\*" is not an exact origin/],
    ['an unknown LOG_LEVEL', { LOG_LEVEL: 'verbose' }, /^LOG_LEVEL: must be one of/],
    ['a negative rate limit', { RATE_LIMIT_PER_MINUTE_IP: '-1' }, /^RATE_LIMIT_PER_MINUTE_IP: must be between/],
    ['a fractional keepalive', { SSE_KEEPALIVE_SECONDS: '1.5' }, /^SSE_KEEPALIVE_SECONDS: must be an integer/],
    ['an AUDIT_RETENTION_DAYS of zero', { AUDIT_RETENTION_DAYS: '0' }, /^AUDIT_RETENTION_DAYS: must be between 1 and 36500/],
    ['a fractional AUDIT_RETENTION_DAYS', { AUDIT_RETENTION_DAYS: '0.5' }, /^AUDIT_RETENTION_DAYS: must be an integer/],
    ['a bad TRUSTED_PROXIES entry', { TRUSTED_PROXIES: '10.0.0.0/33' }, /^TRUSTED_PROXIES: "10.0.0.0\/33"/],
    ['a non-boolean MIGRATE_ON_START', { MIGRATE_ON_START: 'maybe' }, /^MIGRATE_ON_START: must be true or false/],
    ['a non-boolean DEV_LOGIN_ANY_HOST', { DEV_LOGIN_ANY_HOST: 'yes please' }, /^DEV_LOGIN_ANY_HOST: must be true or false/],
    ['a JWT key that is not PEM', { JWT_PRIVATE_KEY: 'secret', JWT_PUBLIC_KEY: PEM_PUBLIC }, /^JWT_PRIVATE_KEY: must be a PEM/],
    ['only one JWT key', { JWT_PUBLIC_KEY: PEM_PUBLIC }, /^JWT_PRIVATE_KEY: JWT_PRIVATE_KEY and JWT_PUBLIC_KEY must be set together/],
    ['production without DATABASE_URL', { ...PRODUCTION_OK, DATABASE_URL: '' }, /^DATABASE_URL: required when NODE_ENV=production/],
    ['production without REDIS_URL', { ...PRODUCTION_OK, REDIS_URL: '' }, /^REDIS_URL: required when NODE_ENV=production/],
    ['production without QDRANT_URL', { ...PRODUCTION_OK, QDRANT_URL: '' }, /^QDRANT_URL: required when NODE_ENV=production/],
    [
      'production without keys',
      { ...PRODUCTION_OK, JWT_PRIVATE_KEY: '', JWT_PUBLIC_KEY: '' },
      /^JWT_PRIVATE_KEY: JWT_PRIVATE_KEY and JWT_PUBLIC_KEY are required when NODE_ENV=production/,
    ],
  ];

  it.each(badEnvironments)('when given %s, reports that variable', (_name, env, expected) => {
    const result = loadConfig(env);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(expected);
  });

  it('when several values are bad, reports every one of them', () => {
    const result = loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', NODE_ENV: 'prod' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.split(':')[0]).sort()).toEqual(['LOG_LEVEL', 'NODE_ENV', 'PORT']);
  });

  it('when a key is given as a file, reads it; when the file is missing, names the _FILE variable', () => {
    const files: Record<string, string> = { '/keys/private.pem': PEM_PRIVATE, '/keys/public.pem': PEM_PUBLIC };
    const readFile = (p: string) => {
      const content = files[p];
      if (content === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return content;
    };
    const ok = loadConfig({ JWT_PRIVATE_KEY_FILE: '/keys/private.pem', JWT_PUBLIC_KEY_FILE: '/keys/public.pem' }, readFile);
    expect(ok.ok && ok.config.jwtPrivateKey).toBe(PEM_PRIVATE);
    const missing = loadConfig({ JWT_PRIVATE_KEY_FILE: '/keys/nope.pem', JWT_PUBLIC_KEY_FILE: '/keys/public.pem' }, readFile);
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.problems[0]).toMatch(/^JWT_PRIVATE_KEY_FILE: cannot read \/keys\/nope.pem \(ENOENT\)/);
  });

  it('when CORS_ORIGINS lists several origins, keeps each exactly', () => {
    const result = loadConfig({ CORS_ORIGINS: 'http://localhost:5200, https://app.jeex.io' });
    expect(result.ok && result.config.corsOrigins).toEqual(['http://localhost:5200', 'https://app.jeex.io']);
  });
});

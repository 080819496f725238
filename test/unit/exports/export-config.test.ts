import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';

const PRODUCTION_OK = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://u:p@db:5432/jeex',
  REDIS_URL: 'redis://redis:6379',
  QDRANT_URL: 'http://qdrant:6333',
  JWT_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----',
  JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----',
};

function problems(env: Record<string, string>): string[] {
  const result = loadConfig(env);
  return result.ok ? [] : [...result.problems];
}

describe('loadConfig: exports (docs/contract.md §11)', () => {
  it('when nothing is set, keeps archives 24 h and signs links for 10 minutes, without a build delay', () => {
    const result = loadConfig({});
    expect(result.ok && [result.config.exportTtlSeconds, result.config.exportLinkTtlSeconds, result.config.exportBuildDelayMs]).toEqual([
      86_400, 600, 0,
    ]);
  });

  it('when EXPORT_TTL_HOURS has decimals, takes them', () => {
    const result = loadConfig({ EXPORT_TTL_HOURS: '0.001' });
    expect(result.ok && result.config.exportTtlSeconds).toBeCloseTo(3.6, 6);
  });

  it.each([['abc'], ['-1'], ['0'], ['1e3'], ['9000']])('when EXPORT_TTL_HOURS is %s, names the variable', (value) => {
    expect(problems({ EXPORT_TTL_HOURS: value }).map((p) => p.split(':')[0])).toEqual(['EXPORT_TTL_HOURS']);
  });

  it('when a link would outlive 10 minutes, refuses it', () => {
    expect(problems({ EXPORT_LINK_TTL_SECONDS: '601' }).map((p) => p.split(':')[0])).toEqual(['EXPORT_LINK_TTL_SECONDS']);
  });

  it('when production sets the build delay test hook, refuses it', () => {
    expect(problems(PRODUCTION_OK)).toEqual([]);
    expect(problems({ ...PRODUCTION_OK, EXPORT_BUILD_DELAY_MS: '100' }).map((p) => p.split(':')[0])).toEqual(['EXPORT_BUILD_DELAY_MS']);
  });
});

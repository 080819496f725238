import { describe, expect, it } from 'vitest';
import { IdentityCache } from '../../../src/auth/identity-cache.js';
import type { User } from '../../../src/db/types.js';

const user = { id: 'u1', email: 'a@b.co', name: 'A' } as User;

describe('IdentityCache', () => {
  it('returns a cached user until the token expires, never after', () => {
    let now = 1_000;
    const cache = new IdentityCache(10, 60_000, () => now);
    cache.set('t', user, 5_000);
    expect(cache.get('t')).toBe(user);
    now = 5_000;
    expect(cache.get('t')).toBeUndefined();
  });

  it('re-reads the user row after its time to live', () => {
    let now = 0;
    const cache = new IdentityCache(10, 10_000, () => now);
    cache.set('t', user, 1_000_000);
    now = 9_999;
    expect(cache.get('t')).toBe(user);
    now = 10_000;
    expect(cache.get('t')).toBeUndefined();
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const cache = new IdentityCache(2, 60_000, () => 0);
    cache.set('a', user, 1e12);
    cache.set('b', user, 1e12);
    cache.set('c', user, 1e12);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBe(user);
    expect(cache.get('c')).toBe(user);
  });

  it('knows only the exact token string that was verified', () => {
    const cache = new IdentityCache();
    cache.set('header.payload.sig', user, Date.now() + 60_000);
    expect(cache.get('header.payload.sig ')).toBeUndefined();
    expect(cache.get('header.payload.siG')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { isLoopback, rateLimitClientKey } from '../../../../src/plugins/http/client-address.js';

describe('rateLimitClientKey', () => {
  it.each([
    ['an IPv4 address', '198.51.100.7', '198.51.100.7'],
    ['an IPv4-mapped IPv6 address', '::ffff:198.51.100.7', '198.51.100.7'],
    ['an IPv6 address', '2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['another address of the same /64', '2001:db8:1:2:ffff::1', '2001:db8:1:2::/64'],
    ['an address of the next /64', '2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['IPv6 loopback', '::1', '::/64'],
    ['something that is not an address', 'unknown', 'unknown'],
  ])('for %s, is the client (IPv4) or its /64 (IPv6)', (_what, ip, key) => {
    expect(rateLimitClientKey(ip)).toBe(key);
  });
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['192.0.2.2', false],
    ['::ffff:192.0.2.2', false],
    ['fd00::2', false],
    ['0.0.0.0', false],
    ['not an address', false],
  ])('%s → %s', (ip, expected) => {
    expect(isLoopback(ip)).toBe(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('loadConfig: REDIS_URL naming a cluster (docs/adr/0027)', () => {
  it('when REDIS_URL is redis+cluster://host:port,…, reads the seed nodes and credentials', () => {
    const result = loadConfig({ REDIS_URL: 'redis+cluster://app:s%40cret@10.0.0.1:7000,redis-b.internal:7001,[::1]:7002' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.redisCluster).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-b.internal', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      username: 'app',
      password: 's@cret',
      tls: false,
    });
  });

  it('when the scheme is rediss+cluster, asks for TLS; a single-node URL leaves redisCluster unset', () => {
    const tls = loadConfig({ REDIS_URL: 'rediss+cluster://10.0.0.1:7000' });
    expect(tls.ok && tls.config.redisCluster?.tls).toBe(true);
    const single = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(single.ok && single.config.redisCluster).toBeUndefined();
    expect(single.ok && single.config.redisUrl).toBe('redis://127.0.0.1:6379');
  });

  const bad: Array<[string, string, RegExp]> = [
    ['a node without a port', 'redis+cluster://10.0.0.1:7000,10.0.0.2', /^REDIS_URL: cluster node "10.0.0.2" is not host:port/],
    ['a port out of range', 'redis+cluster://10.0.0.1:70000', /^REDIS_URL: cluster node "10.0.0.1:70000" is not host:port/],
    ['a database number', 'redis+cluster://10.0.0.1:7000/2', /^REDIS_URL: a cluster URL is redis\+cluster:\/\//],
    ['no node at all', 'redis+cluster://', /^REDIS_URL: a cluster URL is redis\+cluster:\/\//],
    ['several nodes in a plain redis URL', 'redis://10.0.0.1:7000,10.0.0.2:7000', /^REDIS_URL: several nodes name a cluster/],
  ];

  it.each(bad)('when given %s, reports REDIS_URL once with the form to use', (_name, url, expected) => {
    const result = loadConfig({ REDIS_URL: url });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(expected);
  });
});

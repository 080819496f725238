import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { telemetryState } from '../../../src/telemetry/state.js';
import { startApp } from '../../helpers/build-app.js';
import { createTestDatabase } from '../../helpers/database.js';
import { closeWhenFileEnds } from '../../helpers/fixtures.js';
import { startRedisServer } from '../../helpers/redis-server.js';

/** PINGs the Redis server has answered: the `redis` health check sends exactly one per run. */
async function pings(url: string): Promise<number> {
  const client = new Redis(url);
  try {
    const stats = await client.info('commandstats');
    return Number(/cmdstat_ping:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  } finally {
    client.disconnect();
  }
}

describe('GET /api/v1/health (docs/adr/0011: public and unlimited, so cheap)', () => {
  it('when many callers ask at once, runs the checks once (single flight); within 1 s, answers from that run; after it, checks again', async () => {
    const redis = await startRedisServer();
    closeWhenFileEnds(redis.stop);
    const db = await createTestDatabase();
    const server = await startApp({ DATABASE_URL: db.url, REDIS_URL: redis.url });
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past any run made during start-up
    const before = await pings(redis.url);

    const burst = await Promise.all(Array.from({ length: 20 }, () => server.request('/api/v1/health')));
    expect(burst.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await pings(redis.url)) - before).toBe(1);
    type Components = Array<{ name: string; details: Record<string, unknown> | null }>;
    const bodies = (await Promise.all(burst.map((r) => r.json()))) as Array<{ components: Components }>;
    const components = bodies.flatMap((b) => b.components);
    // REDIS_MAX_CONNECTIONS bounds what the process opens (two, whatever the number of streams).
    expect(components.find((c) => c.name === 'redis')?.details).toMatchObject({ connections: 2, max_connections: 50 });

    for (let i = 0; i < 5; i++) expect((await server.request('/api/v1/health/ready')).status).toBe(200);
    expect((await pings(redis.url)) - before).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await server.request('/api/v1/health')).status).toBe(200);
    expect((await pings(redis.url)) - before).toBe(2);
  });

  it('when telemetry exports to an endpoint with credentials, shows neither the endpoint nor the credentials', async () => {
    const state = telemetryState();
    const saved = { ...state };
    Object.assign(state, { enabled: true, endpoint: 'http://jeex:s3cret-token@collector.internal:4318', exportsOk: 3 });
    try {
      const db = await createTestDatabase();
      const server = await startApp({ DATABASE_URL: db.url });
      const text = await (await server.request('/api/v1/health')).text();
      const telemetry = (JSON.parse(text) as { components: Array<{ name: string; status: string }> }).components.find(
        (c) => c.name === 'telemetry',
      );
      expect(telemetry?.status).toBe('healthy');
      expect(text).not.toMatch(/s3cret|collector\.internal|4318|endpoint/);
    } finally {
      Object.assign(state, saved);
    }
  });
});

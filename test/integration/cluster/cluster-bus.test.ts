import { beforeAll, describe, expect, it } from 'vitest';
import { keySlot, shardedChannel } from '../../../src/plugins/infra/redis-cluster.js';
import { operationChannel } from '../../../src/streaming/events.js';
import { memberAccessChannel, projectAccessChannel } from '../../../src/streaming/stream-access.js';
import { useAppPair } from '../../helpers/app-fixture.js';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { useRedisCluster } from '../../helpers/redis-cluster-fixture.js';
import { openStream, type StreamClient } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';
import { createWorker, lease } from '../../helpers/workers.js';

// A real 3-master cluster without replicas (docs/adr/0027), two app instances on it.
const cluster = useRedisCluster({ masters: 3 });
const apps = useAppPair(() => ({ REDIS_URL: cluster.url }));
let owner: TestUser;
let project: TestProject;

beforeAll(async () => {
  owner = await createUser(apps.first, 'Owner');
  project = await createProject(apps.first, owner, 'Cluster');
});

const eventsPath = (op: string, projectId = project.id) => `/api/v1/projects/${projectId}/operations/${op}/events`;

async function createOperation(server: RunningApp = apps.first, kind = 'agent_run', projectId = project.id): Promise<string> {
  const res = await server.request(`/api/v1/projects/${projectId}/operations`, json(owner, { kind }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

interface ShardOperation {
  readonly projectId: string;
  readonly op: string;
  readonly path: string;
}

/**
 * One operation in a project on each master: every channel of a project shares its hash tag, so
 * projects (not operations) spread over the shards.
 */
async function operationsOnEveryShard(): Promise<Map<number, ShardOperation>> {
  const byMaster = new Map<number, ShardOperation>();
  for (let i = 0; i < 60 && byMaster.size < 3; i++) {
    const { id: projectId } = await createProject(apps.first, owner, `Shard ${i}`);
    const op = await createOperation(apps.first, 'agent_run', projectId);
    const master = await cluster.masterOf(shardedChannel(operationChannel({ projectId, operationId: op })));
    if (!byMaster.has(master)) byMaster.set(master, { projectId, op, path: eventsPath(op, projectId) });
  }
  expect(byMaster.size).toBe(3);
  return byMaster;
}

interface RedisHealth {
  status: string;
  details: { mode: string; masters: number; connections: number; subscriber_connections: number; max_connections_per_node: number };
}

async function redisHealth(server: RunningApp): Promise<RedisHealth | undefined> {
  const body = (await (await server.request('/api/v1/health')).json()) as { components: Array<{ name: string } & RedisHealth> };
  return body.components.find((c) => c.name === 'redis');
}

describe('the event bus on a Redis Cluster (sharded pub/sub)', () => {
  it('an event published through instance A reaches a stream on instance B, whichever shard owns the channel', async () => {
    const ops = await operationsOnEveryShard();
    for (const { op, path } of ops.values()) {
      const stream = await openStream(`${apps.second.baseUrl}${path}`, owner.auth);
      expect(stream.status).toBe(200);
      const res = await apps.first.request(path, json(owner, { type: 'progress', data: { op } }));
      expect(res.status).toBe(202);
      await stream.waitFor((events) => events.length === 1);
      expect(JSON.parse(stream.events[0]?.data ?? '{}')).toMatchObject({ data: { op } });
      stream.close();
    }
  });

  it('the redis health component counts a fixed number of connections, whatever the number of streams', async () => {
    const idle = await redisHealth(apps.second);
    expect(idle).toMatchObject({ status: 'healthy', details: { mode: 'cluster', masters: 3, max_connections_per_node: 50 } });
    const paths = [...(await operationsOnEveryShard()).values()].map((o) => o.path);
    const streams: StreamClient[] = [];
    for (let i = 0; i < 30; i++) {
      streams.push(await openStream(`${apps.second.baseUrl}${paths[i % paths.length]}`, owner.auth));
    }
    expect(streams.every((s) => s.status === 200)).toBe(true);
    const busy = (await redisHealth(apps.second))?.details;
    // One command connection per node it talked to and one sharded subscriber per master.
    expect(busy?.subscriber_connections).toBe(3);
    expect(busy?.connections).toBeLessThanOrEqual(2 * 3);
    for (let i = 0; i < 30; i++) {
      streams.push(await openStream(`${apps.second.baseUrl}${paths[i % paths.length]}`, owner.auth));
    }
    expect((await redisHealth(apps.second))?.details.connections).toBe(busy?.connections);
    for (const s of streams) s.close();
  });

  it('the project stream (PostgreSQL, no Redis) sees an operation created on the other instance', async () => {
    const stream = await openStream(`${apps.second.baseUrl}/api/v1/projects/${project.id}/events`, owner.auth);
    expect(stream.status).toBe(200);
    const op = await createOperation(apps.first);
    await stream.waitFor((events) => events.some((e) => e.event === 'operation.created' && e.data.includes(op)));
    stream.close();
  });

  it('a worker waiting on instance B is woken at once by an operation created on instance A', async () => {
    const worker = await createWorker(apps.second, 'cluster-worker');
    const kind = 'cluster.wake';
    const started = performance.now();
    const waiting = lease(apps.second, worker, { kinds: [kind], wait_seconds: 15, lease_seconds: 30 });
    await new Promise((r) => setTimeout(r, 300));
    const op = await createOperation(apps.first, kind);
    const leased = await waiting;
    expect(leased?.operation.id).toBe(op);
    // Without a wake-up the poll would look again only after RECHECK_MS (5 s).
    expect(performance.now() - started).toBeLessThan(4_000);
  });

  it('an idempotency key replays the first response on the other instance (kept in PostgreSQL)', async () => {
    const init = (server: RunningApp) =>
      server.request(`/api/v1/projects/${project.id}/operations`, {
        ...json(owner, { kind: 'agent_run' }),
        headers: { ...(json(owner, {}).headers as Record<string, string>), 'idempotency-key': 'cluster-key-1' },
      });
    const first = await init(apps.first);
    const second = await init(apps.second);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.text()).toBe(await first.text());
  });
});

describe('where the channels live', () => {
  it("every channel a stream follows (its operation's, the project's and the member's access) is on its project's shard", async () => {
    const ops = await operationsOnEveryShard();
    for (const [master, { projectId }] of ops) {
      expect(await cluster.masterOf(shardedChannel(projectAccessChannel(projectId)))).toBe(master);
      expect(await cluster.masterOf(shardedChannel(memberAccessChannel(projectId, owner.id)))).toBe(master);
    }
  });

  it('the slot the bus computes for a channel is the one Redis computes', async () => {
    const redis = cluster.client((cluster.nodes[0] as { port: number }).port);
    try {
      for (let i = 0; i < 50; i++) {
        const name = shardedChannel(`op:${crypto.randomUUID()}:${i}`);
        expect(keySlot(name)).toBe(Number(await redis.call('CLUSTER', 'KEYSLOT', name)));
      }
      expect(keySlot('no-tag-{}')).toBe(Number(await redis.call('CLUSTER', 'KEYSLOT', 'no-tag-{}')));
    } finally {
      redis.disconnect();
    }
  });
});

describe('rate limits on a Redis Cluster', () => {
  it('the per-IP limit is shared by two instances (one key per check: one slot)', async () => {
    const env = { DATABASE_URL: apps.db.url, REDIS_URL: cluster.url, RATE_LIMIT_PER_MINUTE_IP: '4' };
    const limited = [
      await startApp({ ...env, RATE_LIMIT_PER_MINUTE_USER: '0', RATE_LIMIT_PER_MINUTE_PROJECT: '0' }),
      await startApp({ ...env, RATE_LIMIT_PER_MINUTE_USER: '0', RATE_LIMIT_PER_MINUTE_PROJECT: '0' }),
    ];
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await (limited[i % 2] as RunningApp).request('/api/v1/auth/me', { headers: owner.auth })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    await Promise.all(limited.map((app) => app.close()));
  });

  it('the user and project limits (two keys, two shards, one request) are shared by two instances', async () => {
    const env = { DATABASE_URL: apps.db.url, REDIS_URL: cluster.url, RATE_LIMIT_PER_MINUTE_IP: '0' };
    for (const [user, projectLimit] of [
      ['3', '100'],
      ['100', '3'],
    ] as const) {
      // A user and project of their own each time: the keys of the previous round are still full.
      const caller = await createUser(apps.first, `Limited ${user}`);
      const read = `/api/v1/projects/${(await createProject(apps.first, caller, `Limited ${user}`)).id}`;
      const limited = [
        await startApp({ ...env, RATE_LIMIT_PER_MINUTE_USER: user, RATE_LIMIT_PER_MINUTE_PROJECT: projectLimit }),
        await startApp({ ...env, RATE_LIMIT_PER_MINUTE_USER: user, RATE_LIMIT_PER_MINUTE_PROJECT: projectLimit }),
      ];
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await (limited[i % 2] as RunningApp).request(read, { headers: caller.auth })).status);
      // One script per key (docs/adr/0024): a multi-key script would fail with CROSSSLOT here and the limiter would fail open.
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      await Promise.all(limited.map((app) => app.close()));
    }
  });
});

describe('one master lost, no replica to take over', () => {
  it('streams on its shard answer 503 (contract body), other shards keep working, and all recovers when it returns', async () => {
    const ops = await operationsOnEveryShard();
    const [victim, lost] = [...ops.entries()][0] as [number, ShardOperation];
    const survivor = [...ops.entries()].find(([port]) => port !== victim)?.[1] as ShardOperation;
    await cluster.kill(victim);
    // The client sees the closed connection at once; the cluster marks the node failing after NODE_TIMEOUT_MS.
    await until(async () => (await apps.second.request('/api/v1/health/ready')).status === 503, 10_000, 100);

    const t0 = performance.now();
    const refused = await apps.second.request(lost.path, { headers: { ...owner.auth, accept: 'text/event-stream' } });
    expect(performance.now() - t0).toBeLessThan(3_500);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: 'service_unavailable', details: { service: 'redis' } });

    const other = await openStream(`${apps.second.baseUrl}${survivor.path}`, owner.auth);
    expect(other.status).toBe(200);
    const otherLive = await apps.first.request(survivor.path, json(owner, { type: 'progress', data: { shard: 'alive' } }));
    expect(otherLive.status).toBe(202);
    await other.waitFor((events) => events.some((e) => e.data.includes('alive')));
    // Publishing needs no Redis (the event is committed in PostgreSQL; fan-out is retried).
    const published = await apps.first.request(lost.path, json(owner, { type: 'progress', data: { while: 'down' } }));
    expect(published.status).toBe(202);
    other.close();

    await cluster.restart(victim);
    await cluster.waitHealthy();
    await until(async () => (await apps.second.request('/api/v1/health/ready')).status === 200, 15_000, 200);
    const resumed = await openStream(`${apps.second.baseUrl}${lost.path}`, { ...owner.auth, 'last-event-id': '0' });
    expect(resumed.status).toBe(200);
    await resumed.waitFor((events) => events.some((e) => e.data.includes('down')));
    const live = await apps.first.request(lost.path, json(owner, { type: 'progress', data: { after: 'return' } }));
    expect(live.status).toBe(202);
    await resumed.waitFor((events) => events.some((e) => e.data.includes('return')), 10_000);
    resumed.close();
  }, 60_000);
});

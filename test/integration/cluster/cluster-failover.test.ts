import { beforeAll, describe, expect, it } from 'vitest';
import { shardedChannel } from '../../../src/plugins/infra/redis-cluster.js';
import { operationChannel } from '../../../src/streaming/events.js';
import { useAppPair } from '../../helpers/app-fixture.js';
import { createProject, createUser, json, type TestUser } from '../../helpers/factories.js';
import { NODE_TIMEOUT_MS } from '../../helpers/redis-cluster.js';
import { useRedisCluster } from '../../helpers/redis-cluster-fixture.js';
import { openStream } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';

// A real cluster of 3 masters with one replica each (docs/adr/0027), two app instances on it.
const cluster = useRedisCluster({ masters: 3, replicas: true });
const apps = useAppPair(() => ({ REDIS_URL: cluster.url }));
let owner: TestUser;

beforeAll(async () => {
  owner = await createUser(apps.first, 'Owner');
});

/**
 * A client as a browser's EventSource behaves: it reads the stream, and when the stream ends or
 * cannot open (503) it reconnects after a short pause with the last id it saw, until it has
 * `count` events. It records every id it received, duplicates included.
 */
function resumingClient(url: string, count: number, deadlineMs: number) {
  const ids: number[] = [];
  const refusals: number[] = [];
  /** When each stream opened with 200 (performance.now()). */
  const opened: number[] = [];
  let reconnects = 0;
  const done = (async () => {
    const deadline = performance.now() + deadlineMs;
    while (ids.length < count && performance.now() < deadline) {
      const last = ids.at(-1);
      const stream = await openStream(url, { ...owner.auth, ...(last === undefined ? {} : { 'last-event-id': String(last) }) });
      if (stream.status !== 200) {
        refusals.push(performance.now());
        stream.close();
      } else {
        opened.push(performance.now());
        let seen = 0;
        const take = () => {
          for (const e of stream.events.slice(seen)) if (e.id !== undefined) ids.push(Number(e.id));
          seen = stream.events.length;
        };
        await stream
          .waitFor(
            () => {
              take();
              return ids.length >= count;
            },
            Math.max(1, deadline - performance.now()),
          )
          .catch(() => undefined);
        take();
        stream.close();
      }
      if (ids.length < count) {
        reconnects++;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  return { ids, refusals, opened, done, reconnects: () => reconnects };
}

describe('a master fails over to its replica mid-stream', () => {
  it('the stream continues: a client that resumes gets every event exactly once, in order', async () => {
    const { id: projectId } = await createProject(apps.first, owner, 'Failover');
    const opRes = await apps.first.request(`/api/v1/projects/${projectId}/operations`, json(owner, { kind: 'agent_run' }));
    const op = ((await opRes.json()) as { id: string }).id;
    const path = `/api/v1/projects/${projectId}/operations/${op}/events`;
    const victim = await cluster.masterOf(shardedChannel(operationChannel({ projectId, operationId: op })));

    const total = 30;
    const client = resumingClient(`${apps.second.baseUrl}${path}`, total, 40_000);
    await until(() => apps.second.app.eventBus.subscriberCount(operationChannel({ projectId, operationId: op })) === 1);

    let killedAt = 0;
    let failover: Promise<number> | undefined;
    for (let i = 1; i <= total; i++) {
      if (i === 8) {
        await cluster.kill(victim);
        killedAt = performance.now();
        failover = cluster.waitHealthy(30_000).then(() => performance.now() - killedAt);
      }
      const res = await apps.first.request(path, json(owner, { type: 'progress', data: { i } }));
      // A committed event is acknowledged whatever Redis is doing (docs/contract.md §5).
      expect(res.status).toBe(202);
      await new Promise((r) => setTimeout(r, 100));
    }

    const clusterOk = await failover;
    await client.done;
    // The stream is back once it opens again after the last 503 of the failover.
    const lastRefusal = client.refusals.at(-1) ?? killedAt;
    const streamBack = (client.opened.find((t) => t > lastRefusal) ?? Number.NaN) - killedAt;

    expect(client.ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const masters = (
      (await (await apps.second.request('/api/v1/health')).json()) as { components: Array<{ name: string; details: { masters: number } }> }
    ).components.find((c) => c.name === 'redis')?.details.masters;
    expect(masters).toBe(3);
    // The figures of docs/adr/0027 (NODE_TIMEOUT_MS = cluster-node-timeout).
    console.error(
      JSON.stringify({
        figure: 'cluster-failover',
        node_timeout_ms: NODE_TIMEOUT_MS,
        cluster_ok_ms: Math.round(clusterOk ?? Number.NaN),
        stream_back_ms: Math.round(streamBack),
        client_reconnects: client.reconnects(),
        client_refusals: client.refusals.length,
      }),
    );
  }, 90_000);
});

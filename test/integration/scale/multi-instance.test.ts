import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../helpers/database.js';
import { type Requester, startExport, waitForExport, writeVersion } from '../../helpers/exports.js';
import { devLoginToken, json, type TestUser } from '../../helpers/factories.js';
import { InstanceSet, sharedSigningKeys } from '../../helpers/multi-instance.js';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.js';
import { openStream, type StreamClient } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';
import { bearer, type Lease, post } from '../../helpers/workers.js';

/*
 * Issue 20 item 2 (docs/adr/0028): three API processes over one PostgreSQL and one Redis, clients
 * spread over them, behave as one instance: events and streams, leases, limits, idempotency keys
 * and the export sweep.
 */

/** Above what the polling of the other tests spends in a minute; the limit test spends it all. */
const USER_LIMIT = 300;
let redis: RedisServer;
let set: InstanceSet;
let dataDir: string;

beforeAll(async () => {
  const [db, started] = await Promise.all([createTestDatabase(), startRedisServer()]);
  redis = started;
  dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-scale-'));
  set = await InstanceSet.start(3, {
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    DATABASE_URL: db.url,
    DATABASE_POOL_MIN: '1',
    DATABASE_POOL_MAX: '6',
    REDIS_URL: redis.url,
    ...sharedSigningKeys(),
    LOG_LEVEL: 'info',
    RATE_LIMIT_PER_MINUTE_IP: '1000000',
    RATE_LIMIT_PER_MINUTE_USER: String(USER_LIMIT),
    RATE_LIMIT_PER_MINUTE_PROJECT: '1000000',
    // 3.6 s: the sweep of every instance runs each second.
    EXPORT_TTL_HOURS: '0.001',
  });
}, 120_000);

afterAll(async () => {
  await set?.stop();
  await redis?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A user through instance `i`'s dev-login. */
async function user(i: number): Promise<TestUser> {
  const email = `scale-${randomUUID()}@example.com`;
  const token = await devLoginToken(set.at(i).base, email);
  const auth = { authorization: `Bearer ${token}` };
  const me = await set.request(i, '/api/v1/auth/me', { headers: auth });
  expect(me.status).toBe(200);
  return { id: ((await me.json()) as { id: string }).id, email, token, auth };
}

const on = (i: number): Requester => ({ request: (p, init) => set.request(i, p, init) });

async function created<T>(res: Response, status = 201): Promise<T> {
  expect(res.status, await res.clone().text()).toBe(status);
  return (await res.json()) as T;
}

const eventIds = (s: StreamClient) => s.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));

describe('three API processes over one PostgreSQL and Redis (issue 20 item 2)', () => {
  it('events published on any instance reach operation and project streams on every instance, in order; a resume on another instance gets exactly the rest', async () => {
    const owner = await user(0);
    const project = await created<{ id: string }>(
      await set.request(0, '/api/v1/projects', json(owner, { name: 'Spread', language: 'en' })),
    );
    const projectPath = `/api/v1/projects/${project.id}`;
    const projectStreams = [
      await openStream(`${set.at(1).base}${projectPath}/events`, owner.auth),
      await openStream(`${set.at(2).base}${projectPath}/events`, owner.auth),
    ];
    const op = await created<{ id: string }>(await set.request(2, `${projectPath}/operations`, json(owner, { kind: 'scale.events' })));
    const opPath = `${projectPath}/operations/${op.id}`;
    const opStream = await openStream(`${set.at(0).base}${opPath}/events`, owner.auth);
    expect([...projectStreams, opStream].map((s) => s.status)).toEqual([200, 200, 200]);
    for (let k = 1; k <= 9; k++) {
      const body = { type: k === 9 ? 'done' : 'progress', data: { k }, ...(k === 9 ? { status: 'completed' } : {}) };
      // Published on instances 1 and 2 only: the operation stream on 0 hears them only through the bus.
      const ack = await created<{ id: number }>(await set.request(1 + (k % 2), `${opPath}/events`, json(owner, body)), 202);
      expect(ack.id).toBe(k);
    }
    await opStream.waitFor((events) => events.length >= 9, 10_000);
    expect(opStream.events.map((e) => JSON.parse(e.data).data.k)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // operation.created, then the nine events.
    for (const s of projectStreams) await s.waitFor((events) => events.length >= 10, 10_000);
    const [first, second] = projectStreams.map(eventIds);
    expect(first).toEqual(second);
    expect(first).toEqual(Array.from({ length: 10 }, (_, i) => (first?.[0] ?? 0) + i));
    for (const s of projectStreams) s.close();

    const resumeFrom = first?.[3] ?? 0;
    const resumed = await openStream(`${set.at(0).base}${projectPath}/events`, { ...owner.auth, 'last-event-id': String(resumeFrom) });
    await resumed.waitFor((events) => events.length >= 6, 10_000);
    expect(eventIds(resumed)).toEqual(first?.slice(4));
    resumed.close();
  });

  it('workers long-polling on different instances each get a different operation, woken at once; an expired lease is retried exactly once', async () => {
    const owner = await user(0);
    const project = await created<{ id: string }>(
      await set.request(0, '/api/v1/projects', json(owner, { name: 'Leases', language: 'en' })),
    );
    const kind = `scale.lease${randomUUID().slice(0, 8)}`;
    const workers = [bearer(await set.workerToken('scale-a')), bearer(await set.workerToken('scale-b'))];
    const polls = workers.map((auth, w) =>
      set.request(w + 1, '/api/v1/worker/leases', post(auth, { kinds: [kind], wait_seconds: 15, lease_seconds: 10 })),
    );
    // Both polls are waiting before anything is created.
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    const ops = [
      await created<{ id: string }>(await set.request(0, `/api/v1/projects/${project.id}/operations`, json(owner, { kind }))),
      await created<{ id: string }>(await set.request(0, `/api/v1/projects/${project.id}/operations`, json(owner, { kind }))),
    ];
    const leases = await Promise.all(polls.map(async (p) => created<Lease>(await p)));
    const wokenMs = performance.now() - t0;
    expect(wokenMs, 'a new operation wakes pollers on other instances at once').toBeLessThan(5_000);
    expect(leases.map((l) => l.operation.id).sort()).toEqual(ops.map((o) => o.id).sort());

    // The first lease is kept by heartbeats through instance 2; the second is let go and expires.
    const [kept, dropped] = leases as [Lease, Lease];
    const beat = setInterval(
      () => void set.request(2, `/api/v1/worker/leases/${kept.lease.id}/heartbeat`, post(workers[0] ?? {}, {})),
      2_000,
    );
    try {
      const opPath = `/api/v1/projects/${project.id}/operations/${dropped.operation.id}`;
      await until(
        async () => {
          const res = await set.request(1, opPath, { headers: owner.auth });
          return ((await res.json()) as { status: string }).status === 'pending';
        },
        25_000,
        250,
      );
      // Three sweepers a second for two more seconds: a double handling would show now.
      await new Promise((r) => setTimeout(r, 2_000));
      const replay = await openStream(`${set.at(2).base}${opPath}/events`, { ...owner.auth, 'last-event-id': '0' });
      await replay.waitFor((events) => events.some((e) => e.event === 'operation.retrying'), 5_000);
      await new Promise((r) => setTimeout(r, 300));
      replay.close();
      expect(replay.events.map((e) => e.event)).toEqual(['operation.started', 'operation.retrying']);
      const keptRes = await set.request(0, `/api/v1/projects/${project.id}/operations/${kept.operation.id}`, { headers: owner.auth });
      expect(((await keptRes.json()) as { status: string }).status).toBe('running');
    } finally {
      clearInterval(beat);
    }
  }, 45_000);

  it('one user’s rate limit is one budget across the instances, not one per instance', async () => {
    const caller = await user(0);
    const statuses: number[] = [];
    const t0 = performance.now();
    // Ten clients at a time, each request to the next instance in turn.
    for (let k = 0; k < USER_LIMIT + 20; k += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, async (_, j) => {
          const res = await set.request(k + j, '/api/v1/auth/me', { headers: caller.auth });
          await res.arrayBuffer();
          if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
          return res.status;
        }),
      );
      statuses.push(...batch);
    }
    // GCRA (docs/adr/0024): a burst of the limit, then one more every minute / limit while the burst ran.
    const refilled = Math.ceil((performance.now() - t0) / (60_000 / USER_LIMIT));
    const ok = statuses.filter((s) => s === 200).length;
    // The /auth/me of user() above used one of the budget.
    expect(ok).toBeGreaterThanOrEqual(USER_LIMIT - 1);
    expect(ok).toBeLessThanOrEqual(USER_LIMIT - 1 + refilled);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  });

  it('one Idempotency-Key sent to every instance creates one project; the others get its replay (or 409 while it runs)', async () => {
    const owner = await user(1);
    const key = `scale-${randomUUID()}`;
    const name = `Once ${key}`;
    const send = (i: number) =>
      set.request(i, '/api/v1/projects', {
        method: 'POST',
        headers: { ...owner.auth, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ name, language: 'en' }),
      });
    const concurrent = await Promise.all([0, 1, 2].map(send));
    const bodies = await Promise.all(concurrent.map((r) => r.json() as Promise<{ id?: string }>));
    expect(concurrent.map((r) => r.status).every((s) => s === 201 || s === 409)).toBe(true);
    const ids = new Set(bodies.filter((_, i) => concurrent[i]?.status === 201).map((b) => b.id));
    expect(ids.size).toBe(1);
    for (const i of [0, 1, 2]) {
      const again = await send(i);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(((await again.json()) as { id: string }).id).toBe([...ids][0]);
    }
    const list = await set.request(2, '/api/v1/projects?limit=100', { headers: owner.auth });
    const items = ((await list.json()) as { items: Array<{ name: string }> }).items;
    expect(items.filter((p) => p.name === name)).toHaveLength(1);
  });

  it('an export requested on one instance is built once and expired once by the sweeps of all three', async () => {
    const owner = await user(2);
    const project = await created<{ id: string }>(
      await set.request(2, '/api/v1/projects', json(owner, { name: 'Export', language: 'en' })),
    );
    await writeVersion(on(0), owner, project.id, 'about', '# About\n');
    const { export: started, operation } = await startExport(on(1), owner, project.id);
    const ready = await waitForExport(on(2), owner, project.id, started.id);
    expect(ready.status).toBe('ready');
    await until(
      async () => {
        const res = await set.request(0, `/api/v1/projects/${project.id}/exports/${started.id}`, { headers: owner.auth });
        return ((await res.json()) as { status?: string }).status === 'expired';
      },
      20_000,
      200,
    );
    // Every instance keeps sweeping each second: give them two more rounds to expire it again.
    await new Promise((r) => setTimeout(r, 2_500));
    const expiredLines = set
      .allOutput()
      .split('\n')
      .filter((l) => l.includes(started.id) && l.includes('export expired: archive removed'));
    expect(expiredLines).toHaveLength(1);
    const replay = await openStream(`${set.at(0).base}/api/v1/projects/${project.id}/operations/${operation.id}/events`, {
      ...owner.auth,
      'last-event-id': '0',
    });
    await replay.ended;
    expect(replay.events.filter((e) => e.event === 'export.completed')).toHaveLength(1);
    expect(replay.events.filter((e) => e.event === 'operation.started')).toHaveLength(1);
    const link = await set.request(1, ready.download_url ?? '');
    await link.arrayBuffer();
    expect(link.status).toBe(410);
  }, 40_000);

  it('through all of it, no instance process exited', () => {
    expect(set.exits()).toBe(0);
  });
});

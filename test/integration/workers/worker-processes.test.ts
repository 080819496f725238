import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { openStream } from '../../helpers/sse-client.js';
import { until } from '../../helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from '../../helpers/worker-process.js';
import { createOperation, createWorker } from '../../helpers/workers.js';

/*
 * docs/contract.md §8 with real worker processes (the fake example agent on the SDK,
 * scripts/example-worker.ts) against two API instances sharing PostgreSQL and Redis.
 */

let db: TestDatabase;
let sql: pg.Pool;
let apiA: RunningApp;
let apiB: RunningApp;
let owner: TestUser;
let project: TestProject;
let workerToken: string;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const env = { DATABASE_URL: db.url, REDIS_URL: inject('redisUrl'), WORKER_MAX_ATTEMPTS: '3' };
  [apiA, apiB] = await Promise.all([startApp(env, { logLevel: 'warn' }), startApp(env, { logLevel: 'warn' })]);
  owner = await createUser(apiA, 'Owner');
  project = await createProject(apiA, owner, 'Agents', 'fr');
  workerToken = (await createWorker(apiA, 'fake-agent')).token;
});

afterAll(async () => {
  await sql?.end();
});

function worker(api: RunningApp, kinds: string, stepMs: number, leaseSeconds = 10): WorkerProcess {
  return startWorkerProcess({
    JEEX_API_URL: api.baseUrl,
    JEEX_WORKER_TOKEN: workerToken,
    WORKER_KINDS: kinds,
    FAKE_AGENT_STEP_MS: String(stepMs),
    WORKER_LEASE_SECONDS: String(leaseSeconds),
  });
}

async function status(operationId: string): Promise<string> {
  const res = await apiB.request(`/api/v1/projects/${project.id}/operations/${operationId}`, { headers: owner.auth });
  return ((await res.json()) as { status: string }).status;
}

async function eventTypes(operationId: string): Promise<string[]> {
  const { rows } = await sql.query('SELECT type FROM operation_events WHERE operation_id = $1 ORDER BY seq', [operationId]);
  return rows.map((r: { type: string }) => r.type);
}

describe('workers leasing through two API instances', () => {
  it('when 20 operations are pending and 5 worker processes poll two instances, each is leased exactly once and completed', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await createOperation(apiA, owner, project.id, 'draft.document'));
    const workers = [0, 1, 2, 3, 4].map((i) => worker(i % 2 === 0 ? apiA : apiB, 'draft.document', 20));
    await until(async () => (await Promise.all(ids.map(status))).every((s) => s === 'completed'), 60_000, 200);

    const { rows } = await sql.query<{ operation_id: string; n: string }>(
      'SELECT operation_id, count(*) AS n FROM operation_leases WHERE operation_id = ANY($1) GROUP BY operation_id',
      [ids],
    );
    expect(rows).toHaveLength(20);
    expect(rows.every((r) => r.n === '1')).toBe(true);
    for (const id of ids) {
      const types = await eventTypes(id);
      expect(types.filter((t) => t === 'operation.started')).toHaveLength(1);
      expect(types.at(-1)).toBe('document.drafted');
    }
    // Each operation was worked on by exactly one process, and more than one process got work.
    const workedBy = new Map<string, number[]>();
    for (const w of workers) {
      for (const line of w.lines.filter((l) => l.msg === 'working')) {
        workedBy.set(line.operation_id as string, [...(workedBy.get(line.operation_id as string) ?? []), line.pid]);
      }
    }
    expect([...workedBy.values()].every((pids) => pids.length === 1)).toBe(true);
    expect(new Set([...workedBy.values()].flat()).size).toBeGreaterThan(1);
    // The documents were written through the operation tokens, in the creator's name.
    const docs = await sql.query('SELECT created_by, count(*) AS n FROM document_versions WHERE project_id = $1 GROUP BY created_by', [
      project.id,
    ]);
    expect(docs.rows).toEqual([{ created_by: owner.id, n: '20' }]);
    // SIGTERM: each stops cleanly (exit 0).
    expect(await Promise.all(workers.map((w) => w.stop('SIGTERM')))).toEqual([0, 0, 0, 0, 0]);
  }, 90_000);

  it('when a worker is killed with SIGKILL, another retries the operation within lease_seconds + a few s; a follower sees operation.retrying then the result', async () => {
    const doomed = worker(apiA, 'kill.test', 60_000);
    const opId = await createOperation(apiA, owner, project.id, 'kill.test');
    await doomed.waitFor((l) => l.msg === 'working' && l.operation_id === opId);
    const follower = await openStream(`${apiB.baseUrl}/api/v1/projects/${project.id}/operations/${opId}/events`, owner.auth);
    expect(follower.status).toBe(200);

    const killedAt = performance.now();
    await doomed.stop('SIGKILL');
    const rescuer = worker(apiB, 'kill.test', 20);
    const taken = await rescuer.waitFor((l) => l.msg === 'working' && l.operation_id === opId, 30_000);
    const retriedAfterMs = performance.now() - killedAt;
    expect(taken.attempt).toBe(2);
    expect(retriedAfterMs).toBeLessThan(10_000 + 5_000);

    await follower.waitFor((events) => events.some((e) => e.event === 'document.drafted'), 20_000);
    const types = follower.events.map((e) => e.event);
    expect(types.indexOf('operation.retrying')).toBeGreaterThanOrEqual(0);
    expect(types.indexOf('operation.retrying')).toBeLessThan(types.lastIndexOf('operation.started'));
    expect(types.at(-1)).toBe('document.drafted');
    const retrying = follower.events.find((e) => e.event === 'operation.retrying');
    expect(JSON.parse(retrying?.data ?? '{}').data).toEqual({ attempt: 2, reason: 'lease_expired' });
    await follower.ended;
    expect(await status(opId)).toBe('completed');
    await rescuer.stop('SIGTERM');
  }, 60_000);

  it('when a running operation is cancelled, its worker learns it on a heartbeat and operation.cancelled is the last event', async () => {
    const slow = worker(apiB, 'cancel.test', 60_000);
    const opId = await createOperation(apiA, owner, project.id, 'cancel.test');
    await slow.waitFor((l) => l.msg === 'working' && l.operation_id === opId);
    const res = await apiA.request(`/api/v1/projects/${project.id}/operations/${opId}/cancel`, json(owner, {}));
    expect(res.status).toBe(202);
    expect(((await res.json()) as { status: string }).status).toBe('running');
    // Heartbeats come every lease_seconds / 3 (≈ 3.3 s).
    await until(async () => (await status(opId)) === 'cancelled', 15_000, 100);
    const types = await eventTypes(opId);
    expect(types.at(-1)).toBe('operation.cancelled');
    expect(types).toContain('cancelled');
    expect(await slow.stop('SIGTERM')).toBe(0);
  }, 40_000);
});

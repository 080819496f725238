import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { queryRows, snapshot } from '../../helpers/db-snapshot.js';
import { createProject, createUser, json, type TestProject, type TestUser } from '../../helpers/factories.js';
import { until } from '../../helpers/wait.js';
import { bearer, createOperation, createWorker, type Lease, lease, post, type TestWorker } from '../../helpers/workers.js';

/* docs/contract.md §8 over HTTP: credentials, bad input, seq, fencing, expiry, cancel. */

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;
let project: TestProject;
let worker: TestWorker;
let other: TestWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url, WORKER_MAX_ATTEMPTS: '2' }, { logLevel: 'warn' });
  owner = await createUser(server, 'Owner');
  project = await createProject(server, owner);
  worker = await createWorker(server, 'w-one');
  other = await createWorker(server, 'w-two');
});

const eventsPath = (opId: string) => `/api/v1/projects/${project.id}/operations/${opId}/events`;
const heartbeat = (w: TestWorker, leaseId: string) => server.request(`/api/v1/worker/leases/${leaseId}/heartbeat`, post(w.auth, {}));

async function storedEvents(opId: string) {
  return queryRows<{ seq: number; type: string; data: unknown; status: string | null }>(
    db.url,
    'SELECT seq, type, data, status FROM operation_events WHERE operation_id = $1 ORDER BY seq',
    [opId],
  );
}

async function leaseOf(kind: string, w = worker, extra: Record<string, unknown> = {}): Promise<Lease> {
  const got = await lease(server, w, { kinds: [kind], ...extra });
  if (!got) throw new Error(`no ${kind} operation to lease`);
  return got;
}

describe('which token a route takes', () => {
  it('when a worker credential calls a user route or a project route, returns 403', async () => {
    expect((await server.request('/api/v1/auth/me', { headers: worker.auth })).status).toBe(403);
    expect((await server.request(`/api/v1/projects/${project.id}`, { headers: worker.auth })).status).toBe(403);
  });

  it('when a user token or an operation token calls a worker route, returns 403', async () => {
    const res = await server.request('/api/v1/worker/leases', post(owner.auth, { kinds: ['x'] }));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('forbidden');
    await createOperation(server, owner, project.id, 'route.kinds');
    const got = await leaseOf('route.kinds');
    expect((await server.request('/api/v1/worker/leases', post(bearer(got.token), { kinds: ['x'] }))).status).toBe(403);
    expect((await server.request(`/api/v1/worker/leases/${got.lease.id}/heartbeat`, post(bearer(got.token), {}))).status).toBe(403);
    expect((await server.request('/api/v1/auth/me', { headers: bearer(got.token) })).status).toBe(403);
  });
});

describe('POST /api/v1/worker/leases with bad input', () => {
  it('when kinds are empty or too many, or wait/lease seconds are out of range, returns 422 and leases nothing', async () => {
    const opId = await createOperation(server, owner, project.id, 'bad.input');
    const before = await snapshot(db.url);
    const bodies = [
      {},
      { kinds: [] },
      { kinds: Array.from({ length: 21 }, (_, i) => `k${i}`) },
      { kinds: ['Bad Kind'] },
      { kinds: ['bad.input', 'bad.input'] },
      { kinds: ['bad.input'], wait_seconds: 21 },
      { kinds: ['bad.input'], wait_seconds: -1 },
      { kinds: ['bad.input'], lease_seconds: 9 },
      { kinds: ['bad.input'], lease_seconds: 301 },
      { kinds: ['bad.input'], lease_seconds: '30' },
      { kinds: ['bad.input'], extra: true },
    ];
    for (const body of bodies) {
      const res = await server.request('/api/v1/worker/leases', post(worker.auth, body));
      expect(res.status, JSON.stringify(body)).toBe(422);
      const error = (await res.json()) as { error: string; details: { errors: unknown[] } };
      expect(error.error).toBe('validation_error');
      expect(error.details.errors.length).toBeGreaterThan(0);
    }
    expect(await snapshot(db.url)).toEqual(before);
    expect((await leaseOf('bad.input')).operation.id).toBe(opId);
  });

  it('when the lease is unknown, malformed or another worker’s, heartbeat returns 404, 422, 403 and changes nothing', async () => {
    await createOperation(server, owner, project.id, 'bad.heartbeat');
    const got = await leaseOf('bad.heartbeat');
    const before = await snapshot(db.url);
    expect((await heartbeat(worker, '0193a6f3-1d2e-7f30-9b4c-5d6e7f809102')).status).toBe(404);
    expect((await heartbeat(worker, 'not-a-uuid')).status).toBe(422);
    expect((await heartbeat(other, got.lease.id)).status).toBe(403);
    const extra = await server.request(`/api/v1/worker/leases/${got.lease.id}/heartbeat`, post(worker.auth, { x: 1 }));
    expect(extra.status).toBe(422);
    expect(await snapshot(db.url)).toEqual(before);
  });
});

describe('long poll', () => {
  it('when nothing appears within wait_seconds, returns 204', async () => {
    const t0 = performance.now();
    expect(await lease(server, worker, { kinds: ['never.created'], wait_seconds: 1 })).toBeNull();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('when an operation is created while a worker waits, wakes it at once', async () => {
    const waiting = lease(server, worker, { kinds: ['wake.me'], wait_seconds: 15 });
    await new Promise((r) => setTimeout(r, 300));
    const createdAt = performance.now();
    const opId = await createOperation(server, owner, project.id, 'wake.me');
    const got = await waiting;
    expect(got?.operation.id).toBe(opId);
    // The safety-net recheck is every 5 s: well under it means the wake-up did it.
    expect(performance.now() - createdAt).toBeLessThan(2_000);
  });
});

describe('shutdown', () => {
  it('when the app closes while a worker waits in a long poll, the poll answers 204 at once and the close is not held', async () => {
    const own = await startApp({ DATABASE_URL: db.url }, { logLevel: 'warn' });
    const w = await createWorker(own, 'closing');
    const waiting = lease(own, w, { kinds: ['never.created'], wait_seconds: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await own.close();
    expect(await waiting).toBeNull();
    expect(performance.now() - t0).toBeLessThan(3_000);
  });
});

describe('publishing with an operation token', () => {
  it('when the same seq is sent twice, stores one event and answers 200 with the stored one', async () => {
    const opId = await createOperation(server, owner, project.id, 'seq.test');
    const got = await leaseOf('seq.test');
    const body = { type: 'progress', data: { percent: 10 }, seq: 1 };
    const first = await server.request(eventsPath(opId), post(bearer(got.token), body));
    expect(first.status).toBe(202);
    const stored = await first.json();
    const second = await server.request(eventsPath(opId), post(bearer(got.token), { ...body, data: { percent: 99 } }));
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual(stored);
    expect((await storedEvents(opId)).map((e) => e.type)).toEqual(['operation.started', 'progress']);
  });

  it('when an event type starts with operation., returns 422 for the worker and for a user alike', async () => {
    const opId = await createOperation(server, owner, project.id, 'reserved.test');
    const got = await leaseOf('reserved.test');
    const before = await snapshot(db.url);
    for (const auth of [bearer(got.token), owner.auth]) {
      const res = await server.request(eventsPath(opId), post(auth, { type: 'operation.completed', status: 'completed' }));
      expect(res.status).toBe(422);
    }
    expect(await snapshot(db.url)).toEqual(before);
  });

  it('when the worker ends with status cancelled, operation.cancelled is the last event', async () => {
    const opId = await createOperation(server, owner, project.id, 'worker.cancel');
    const got = await leaseOf('worker.cancel');
    const res = await server.request(eventsPath(opId), post(bearer(got.token), { type: 'stopped', status: 'cancelled', seq: 1 }));
    expect(res.status).toBe(202);
    const events = await storedEvents(opId);
    expect(events.map((e) => [e.type, e.status])).toEqual([
      ['operation.started', 'running'],
      ['stopped', null],
      ['operation.cancelled', 'cancelled'],
    ]);
  });
});

describe('cancel', () => {
  it('when the operation is pending, ends it cancelled at once and no worker gets it', async () => {
    const opId = await createOperation(server, owner, project.id, 'cancel.pending');
    const res = await server.request(`/api/v1/projects/${project.id}/operations/${opId}/cancel`, json(owner, {}));
    expect(res.status).toBe(202);
    expect(((await res.json()) as { status: string }).status).toBe('cancelled');
    expect((await storedEvents(opId)).map((e) => [e.type, e.status])).toEqual([['operation.cancelled', 'cancelled']]);
    expect(await lease(server, worker, { kinds: ['cancel.pending'] })).toBeNull();
    // Again: nothing changes; a viewer or a bad body cannot cancel.
    expect((await server.request(`/api/v1/projects/${project.id}/operations/${opId}/cancel`, json(owner, {}))).status).toBe(202);
    expect((await storedEvents(opId)).length).toBe(1);
  });

  it('when the operation completed, returns 409', async () => {
    const opId = await createOperation(server, owner, project.id, 'cancel.done');
    const got = await leaseOf('cancel.done');
    expect((await server.request(eventsPath(opId), post(bearer(got.token), { type: 'done', status: 'completed' }))).status).toBe(202);
    expect((await server.request(`/api/v1/projects/${project.id}/operations/${opId}/cancel`, json(owner, {}))).status).toBe(409);
  });

  it('when a running operation is cancelled, the next heartbeat says cancel_requested and its status stays running', async () => {
    const opId = await createOperation(server, owner, project.id, 'cancel.running');
    const got = await leaseOf('cancel.running');
    const before = await (await heartbeat(worker, got.lease.id)).json();
    expect(before).toMatchObject({ cancel_requested: false });
    expect((await server.request(`/api/v1/projects/${project.id}/operations/${opId}/cancel`, json(owner, {}))).status).toBe(202);
    const after = await heartbeat(worker, got.lease.id);
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ cancel_requested: true });
    const op = (await (await server.request(`/api/v1/projects/${project.id}/operations/${opId}`, { headers: owner.auth })).json()) as {
      status: string;
    };
    expect(op.status).toBe('running');
  });
});

describe('lease expiry (WORKER_MAX_ATTEMPTS=2, lease_seconds 10)', () => {
  it('expired leases: heartbeat 409 even if nobody took it, a stale lease’s event 409 and token 401, retry, then operation.failed', async () => {
    const takenId = await createOperation(server, owner, project.id, 'expiry.taken');
    const idleId = await createOperation(server, owner, project.id, 'expiry.idle');
    const first = await leaseOf('expiry.taken', worker, { lease_seconds: 10 });
    const idle = await leaseOf('expiry.idle', worker, { lease_seconds: 10 });
    const cancelled = await createOperation(server, owner, project.id, 'expiry.cancel');
    const third = await leaseOf('expiry.cancel', worker, { lease_seconds: 10 });
    expect((await server.request(`/api/v1/projects/${project.id}/operations/${cancelled}/cancel`, json(owner, {}))).status).toBe(202);

    // Nobody takes expiry.idle again: once its lease expired, the heartbeat is a 409 all the same.
    await until(async () => (await storedEvents(idleId)).at(-1)?.type === 'operation.retrying', 20_000, 250);
    expect((await heartbeat(worker, idle.lease.id)).status).toBe(409);
    const second = await leaseOf('expiry.taken', other, { lease_seconds: 10 });
    expect(second.operation.id).toBe(takenId);
    expect(second.lease.attempt).toBe(2);

    expect((await heartbeat(worker, first.lease.id)).status).toBe(409);
    const stale = await server.request(eventsPath(takenId), post(bearer(first.token), { type: 'late', seq: 1 }));
    expect(stale.status).toBe(409);
    expect((await server.request(`/api/v1/projects/${project.id}`, { headers: bearer(first.token) })).status).toBe(401);
    expect((await server.request(eventsPath(takenId), post(bearer(second.token), { type: 'fresh', seq: 1 }))).status).toBe(202);

    const idleEvents = await storedEvents(idleId);
    expect(idleEvents.at(-1)).toMatchObject({ type: 'operation.retrying', data: { attempt: 2, reason: 'lease_expired' }, status: null });
    // A cancel-requested operation whose lease expires ends cancelled, never retried.
    const cancelEvents = await storedEvents(cancelled);
    expect(cancelEvents.at(-1)).toMatchObject({ type: 'operation.cancelled', status: 'cancelled' });
    expect(third.lease.attempt).toBe(1);

    // The second attempt expires too: that was the last one.
    await until(async () => (await storedEvents(takenId)).at(-1)?.type === 'operation.failed', 20_000, 250);
    expect((await storedEvents(takenId)).at(-1)).toMatchObject({ data: { reason: 'lease_expired' }, status: 'failed' });
    const op = (await (
      await server.request(`/api/v1/projects/${project.id}/operations/${takenId}`, { headers: owner.auth })
    ).json()) as Record<string, unknown>;
    expect(op).toMatchObject({ status: 'failed', error: 'lease_expired' });
    const leases = await queryRows<{ n: string }>(db.url, 'SELECT count(*) AS n FROM operation_leases WHERE operation_id = $1', [takenId]);
    expect(leases[0]?.n).toBe('2');
  }, 60_000);
});

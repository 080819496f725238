import { beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createProject, createUser, type TestUser } from '../../helpers/factories.js';
import { bearer, createOperation, createWorker, lease, post, type TestWorker } from '../../helpers/workers.js';

let db: TestDatabase;
let server: RunningApp;
let owner: TestUser;
let worker: TestWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApp({ DATABASE_URL: db.url });
  owner = await createUser(server, 'Owner');
  worker = await createWorker(server, 'smoke');
});

describe('POST /api/v1/worker/leases', () => {
  it('when an operation is pending, leases it once with an operation token that can publish', async () => {
    const project = await createProject(server, owner);
    const opId = await createOperation(server, owner, project.id, 'smoke.kind');
    const got = await lease(server, worker, { kinds: ['smoke.kind'] });
    expect(got?.operation.id).toBe(opId);
    expect(got?.operation.status).toBe('running');
    expect(got?.lease.attempt).toBe(1);
    expect(await lease(server, worker, { kinds: ['smoke.kind'] })).toBeNull();
    const res = await server.request(
      `/api/v1/projects/${project.id}/operations/${opId}/events`,
      post(bearer(got?.token ?? ''), { type: 'progress', data: { p: 1 }, seq: 1 }),
    );
    expect(res.status).toBe(202);
    const again = await server.request(
      `/api/v1/projects/${project.id}/operations/${opId}/events`,
      post(bearer(got?.token ?? ''), { type: 'progress', data: { p: 1 }, seq: 1 }),
    );
    expect(again.status).toBe(200);
    const hb = await server.request(`/api/v1/worker/leases/${got?.lease.id}/heartbeat`, post(worker.auth, {}));
    expect(hb.status).toBe(200);
  });
});

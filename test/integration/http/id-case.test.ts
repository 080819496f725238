import { describe, expect, inject, it } from 'vitest';
import { useProjectApp } from '../../helpers/app-fixture.js';
import { snapshot } from '../../helpers/db-snapshot.js';
import { addMember, createUser, json } from '../../helpers/factories.js';
import { openStream } from '../../helpers/sse-client.js';

/*
 * docs/contract.md §13 / issue 14 item 3: ids in paths are matched case-insensitively and answered in
 * lower case (Swift's `uuidString` is upper case); `urn:uuid:` (accepted by ajv-formats,
 * refused by PostgreSQL) is a malformed id → 422, nothing written.
 */
// The Redis bus, as in production: events are keyed there by operation id.
const ctx = useProjectApp({ REDIS_URL: inject('redisUrl') }, { project: 'Cases' });

const upper = (id: string) => id.toUpperCase();

async function createOperation(): Promise<string> {
  const res = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations`, json(ctx.owner, { kind: 'agent_run' }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function expect422(res: Response, path: string): Promise<void> {
  expect(res.status).toBe(422);
  const body = (await res.json()) as { error: string; details: { errors: Array<{ path: string }> } };
  expect(body.error).toBe('validation_error');
  expect(body.details.errors.map((e) => e.path)).toContain(path);
}

describe('ids in another case (docs/contract.md §13)', () => {
  it('when an event is published to the upper-case operation path, a follower of the lower-case path receives it', async () => {
    const operationId = await createOperation();
    const follower = await openStream(
      `${ctx.server.baseUrl}/api/v1/projects/${ctx.project.id}/operations/${operationId}/events`,
      ctx.owner.auth,
    );
    try {
      expect(follower.status).toBe(200);
      const res = await ctx.server.request(
        `/api/v1/projects/${upper(ctx.project.id)}/operations/${upper(operationId)}/events`,
        json(ctx.owner, { type: 'progress', data: { percent: 40 } }),
      );
      expect(res.status).toBe(202);
      expect(((await res.json()) as { operation_id: string }).operation_id).toBe(operationId);
      await follower.waitFor((events) => events.some((e) => e.event === 'progress'), 5_000);
      const received = JSON.parse(follower.events.find((e) => e.event === 'progress')?.data ?? '{}') as Record<string, unknown>;
      expect(received).toMatchObject({ operation_id: operationId, data: { percent: 40 } });
    } finally {
      follower.close();
    }
  });

  it('when a follower streams the upper-case path, it receives events published to the lower-case path', async () => {
    const operationId = await createOperation();
    const follower = await openStream(
      `${ctx.server.baseUrl}/api/v1/projects/${upper(ctx.project.id)}/operations/${upper(operationId)}/events`,
      ctx.owner.auth,
    );
    try {
      expect(follower.status).toBe(200);
      const res = await ctx.server.request(
        `/api/v1/projects/${ctx.project.id}/operations/${operationId}/events`,
        json(ctx.owner, { type: 'progress', status: 'completed' }),
      );
      expect(res.status).toBe(202);
      await follower.waitFor((events) => events.some((e) => e.event === 'progress'), 5_000);
    } finally {
      follower.close();
    }
  });

  it('when a project and an operation are read by upper-case ids, they are found and answered in lower case', async () => {
    const operationId = await createOperation();
    const read = await ctx.server.request(`/api/v1/projects/${upper(ctx.project.id)}`, { headers: ctx.owner.auth });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { id: string }).id).toBe(ctx.project.id);
    const op = await ctx.server.request(`/api/v1/projects/${upper(ctx.project.id)}/operations/${upper(operationId)}`, {
      headers: ctx.owner.auth,
    });
    expect(op.status).toBe(200);
    expect(await op.json()).toMatchObject({ id: operationId, project_id: ctx.project.id });
  });

  it('when an unknown id comes in upper case, the 404 message names it in lower case', async () => {
    const missing = '0193A6F3-1D2E-7F30-9B4C-5D6E7F809102';
    const res = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations/${missing}`, { headers: ctx.owner.auth });
    expect(res.status).toBe(404);
    const { message } = (await res.json()) as { message: string };
    expect(message).toContain(missing.toLowerCase());
    expect(message).not.toContain(missing);
  });

  it('when a non-member names a project in upper case, the 403 names it in lower case (lowered before the access guard)', async () => {
    const stranger = await createUser(ctx.server);
    const res = await ctx.server.request(`/api/v1/projects/${upper(ctx.project.id)}`, { headers: stranger.auth });
    expect(res.status).toBe(403);
    const { message } = (await res.json()) as { message: string };
    expect(message).toContain(ctx.project.id);
    expect(message).not.toContain(upper(ctx.project.id));
  });

  it('when a member is set by an upper-case user id, the membership is the same user’s', async () => {
    const member = await createUser(ctx.server);
    const res = await ctx.server.request(
      `/api/v1/projects/${ctx.project.id}/members/${upper(member.id)}`,
      json(ctx.owner, { role: 'viewer' }, 'PUT'),
    );
    expect(res.status).toBe(200);
    const again = await ctx.server.request(
      `/api/v1/projects/${ctx.project.id}/members/${member.id}`,
      json(ctx.owner, { role: 'editor' }, 'PUT'),
    );
    expect(again.status).toBe(200);
    const list = await ctx.server.request(`/api/v1/projects/${ctx.project.id}/members`, { headers: ctx.owner.auth });
    const { items } = (await list.json()) as { items: Array<{ user_id: string; role: string }> };
    expect(items.filter((m) => m.user_id === member.id)).toEqual([expect.objectContaining({ role: 'editor' })]);
  });
});

describe('urn:uuid: ids (issue 14 item 8)', () => {
  it('when an operation id is given as urn:uuid:, answers 422 on reads and writes and writes nothing', async () => {
    const operationId = await createOperation();
    const before = await snapshot(ctx.db.url);
    await expect422(
      await ctx.server.request(`/api/v1/projects/${ctx.project.id}/operations/urn:uuid:${operationId}`, { headers: ctx.owner.auth }),
      'params/operation_id',
    );
    await expect422(
      await ctx.server.request(
        `/api/v1/projects/${ctx.project.id}/operations/urn:uuid:${operationId}/events`,
        json(ctx.owner, { type: 'progress' }),
      ),
      'params/operation_id',
    );
    expect(await snapshot(ctx.db.url)).toEqual(before);
  });

  it('when a project id or a member id is given as urn:uuid:, answers 422 and writes nothing', async () => {
    const member = await createUser(ctx.server);
    await addMember(ctx.server, ctx.owner, ctx.project.id, member, 'viewer');
    const before = await snapshot(ctx.db.url);
    await expect422(
      await ctx.server.request(`/api/v1/projects/urn:uuid:${ctx.project.id}`, { headers: ctx.owner.auth }),
      'params/project_id',
    );
    await expect422(
      await ctx.server.request(
        `/api/v1/projects/${ctx.project.id}/members/urn:uuid:${member.id}`,
        json(ctx.owner, { role: 'editor' }, 'PUT'),
      ),
      'params/user_id',
    );
    await expect422(
      await ctx.server.request(`/api/v1/projects/${ctx.project.id}/members/URN:UUID:${upper(member.id)}`, {
        method: 'DELETE',
        headers: ctx.owner.auth,
      }),
      'params/user_id',
    );
    expect(await snapshot(ctx.db.url)).toEqual(before);
  });
});

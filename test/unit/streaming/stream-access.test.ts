import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ProjectRole } from '../../../src/db/types.js';
import { ForbiddenError } from '../../../src/lib/errors.js';
import { InProcessEventBus } from '../../../src/streaming/in-process-bus.js';
import {
  type AccessEnding,
  AccessNotices,
  memberAccessChannel,
  projectAccessChannel,
  StreamAccess,
  type StreamCaller,
} from '../../../src/streaming/stream-access.js';
import { StreamLifetime } from '../../../src/streaming/stream-lifetime.js';
import { until } from '../../helpers/wait.js';

const PROJECT = '0193a6f3-1d2e-7f30-9b4c-5d6e7f809102';
const USER = '0193a6f3-1d2e-7f30-9b4c-5d6e7f809103';

/** The membership table a stream reads again (a stand-in for the repository read). */
class Roles {
  readonly table = new Map<string, ProjectRole>([[USER, 'editor']]);
  reads = 0;
  failing = false;
  readonly read = async (_projectId: string, userId: string): Promise<ProjectRole | undefined> => {
    this.reads += 1;
    if (this.failing) throw new Error('connection terminated');
    return this.table.get(userId);
  };
}

function setup(caller: Partial<StreamCaller> = {}) {
  const bus = new InProcessEventBus();
  const roles = new Roles();
  const access = new StreamAccess(bus, roles.read);
  const notices = new AccessNotices(bus);
  const lifetime = new StreamLifetime(Object.assign(new EventEmitter(), { destroyed: false }));
  const endings: AccessEnding[] = [];
  const watch = () =>
    access.watch({ projectId: PROJECT, userId: USER, role: 'viewer', expiresAt: null, ...caller }, lifetime).then((w) => {
      w.start((ending) => endings.push(ending));
      return w;
    });
  const held = () => bus.subscriberCount(projectAccessChannel(PROJECT)) + bus.subscriberCount(memberAccessChannel(PROJECT, USER));
  return { bus, roles, notices, lifetime, endings, watch, held };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('StreamAccess: a stream ends when its caller’s access does (contract §9)', () => {
  it('when the member is removed, reads the membership again and ends with revoked (member_removed)', async () => {
    const { roles, notices, endings, watch } = setup();
    await watch();
    roles.table.delete(USER);
    await notices.memberChanged(PROJECT, USER);
    await until(() => endings.length === 1);
    expect(endings).toEqual([{ reason: 'revoked', notice: { event: 'revoked', data: { reason: 'member_removed' } } }]);
  });

  it('when a demotion keeps the role the route needs, ends nothing', async () => {
    const { roles, notices, endings, watch } = setup({ role: 'viewer' });
    await watch();
    roles.table.set(USER, 'viewer');
    await notices.memberChanged(PROJECT, USER);
    await until(() => roles.reads === 2);
    await new Promise((r) => setImmediate(r));
    expect(endings).toEqual([]);
  });

  it('when a demotion drops below the role the route needs, ends with revoked', async () => {
    const { roles, notices, endings, watch } = setup({ role: 'editor' });
    await watch();
    roles.table.set(USER, 'viewer');
    await notices.memberChanged(PROJECT, USER);
    await until(() => endings.length === 1);
    expect(endings[0]?.reason).toBe('revoked');
  });

  it('when another member changes, reads nothing and ends nothing', async () => {
    const { roles, notices, endings, watch } = setup();
    await watch();
    await notices.memberChanged(PROJECT, '0193a6f3-1d2e-7f30-9b4c-5d6e7f8091ff');
    expect(roles.reads).toBe(1);
    expect(endings).toEqual([]);
  });

  it('when the project is deleted, ends with revoked (project_deleted) without a read', async () => {
    const { roles, notices, endings, watch } = setup();
    await watch();
    await notices.projectDeleted(PROJECT);
    expect(endings).toEqual([{ reason: 'revoked', notice: { event: 'revoked', data: { reason: 'project_deleted' } } }]);
    expect(roles.reads).toBe(1);
  });

  it('when the member was removed after the guard but before the watch listened, refuses to open (403) and holds nothing', async () => {
    const { roles, watch, held } = setup();
    roles.table.delete(USER);
    await expect(watch()).rejects.toBeInstanceOf(ForbiddenError);
    // The caller ends the lifetime on failure (serveEventStream); until then the watch holds its notices.
    expect(held()).toBe(2);
  });

  it('when the membership cannot be read again, ends the stream as failed, without a notice (the reconnect decides)', async () => {
    const { roles, notices, endings, watch } = setup();
    await watch();
    roles.failing = true;
    await notices.memberChanged(PROJECT, USER);
    await until(() => endings.length === 1);
    expect(endings).toEqual([{ reason: 'failed', notice: null }]);
  });

  it('when the lifetime ends, releases both notice subscriptions and ends nothing afterwards', async () => {
    const { notices, lifetime, endings, watch, held } = setup();
    await watch();
    expect(held()).toBe(2);
    lifetime.end();
    expect(held()).toBe(0);
    await notices.projectDeleted(PROJECT);
    expect(endings).toEqual([]);
  });

  it('at the token’s exp, ends with auth_expired carrying the expiry', async () => {
    const expiresAt = Date.now() + 150;
    const { endings, watch } = setup({ expiresAt });
    await watch();
    expect(endings).toEqual([]);
    await until(() => endings.length === 1, 2_000, 5);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    expect(Date.now() - expiresAt).toBeLessThan(500);
    expect(endings[0]).toEqual({
      reason: 'auth_expired',
      notice: { event: 'auth_expired', data: { expired_at: new Date(expiresAt).toISOString() } },
    });
  });

  it('an exp further away than setTimeout can wait (30-day tokens) is waited for in steps it can take', async () => {
    // Node runs an over-long setTimeout after 1 ms (TimeoutOverflowWarning): a timer spinning every millisecond.
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const { endings, watch, lifetime } = setup({ expiresAt: Date.now() + 30 * 24 * 3600 * 1000 });
    await watch();
    const delays = timers.mock.calls.map((call) => Number(call[1]));
    timers.mockRestore();
    lifetime.end();
    expect(endings).toEqual([]);
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  it('an exp further away than setTimeout can wait fires at exp (re-armed on the way)', async () => {
    vi.useFakeTimers();
    const day = 24 * 3600 * 1000;
    const { endings, watch } = setup({ expiresAt: Date.now() + 30 * day });
    await watch();
    vi.advanceTimersByTime(29 * day);
    expect(endings).toEqual([]);
    vi.advanceTimersByTime(day);
    expect(endings.map((e) => e.reason)).toEqual(['auth_expired']);
  });
});

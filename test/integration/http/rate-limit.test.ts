import { randomUUID } from 'node:crypto';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Redis } from 'ioredis';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunningApp, startApp as StartApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import type { TestUser } from '../../helpers/factories.js';
import { closeWhenFileEnds } from '../../helpers/fixtures.js';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.js';

/** Reads the app's counters in-process (the app's instruments use the global meter provider). */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new TestReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

async function counter(name: string, attrs: Record<string, string> = {}): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const sm of resourceMetrics.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of m.dataPoints) {
        if (Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)) total += Number(p.value);
      }
    }
  }
  return total;
}

// The app is imported after the meter provider is set, so its instruments report to it.
let startApp: typeof StartApp;
let factories: typeof import('../../helpers/factories.js');
let db: TestDatabase;
let redis: RedisServer;

beforeAll(async () => {
  ({ startApp } = await import('../../helpers/build-app.js'));
  factories = await import('../../helpers/factories.js');
  db = await createTestDatabase();
  redis = await startRedisServer();
  closeWhenFileEnds(redis.stop); // after the apps on it (fixtures close last first)
});

// Every test starts from empty counters (this file's own Redis; all requests come from 127.0.0.1).
beforeEach(async () => {
  const client = new Redis(redis.url);
  await client.flushall();
  client.disconnect();
});

async function app(env: Record<string, string>): Promise<RunningApp> {
  return startApp({ DATABASE_URL: db.url, REDIS_URL: redis.url, RATE_LIMIT_WINDOW_MS: '1000', ...env });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every rate-limit key in this file's Redis (the layout is src/rate-limit/keys.ts). */
async function limitKeys(client: Redis): Promise<string[]> {
  return (await client.keys('rate_limit:*')).sort();
}

describe('rate limiting (GCRA, docs/adr/0024-rate-limit-gcra.md)', () => {
  const login = (a: RunningApp) =>
    a.request('/api/v1/auth/dev-login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });

  it('a burst of exactly the limit is admitted and the next is 429 with Retry-After and the headers; one more is admitted after the emission interval', async () => {
    // 5 per 10 s: T = 2 s.
    const a = await app({ RATE_LIMIT_PER_MINUTE_IP: '5', RATE_LIMIT_WINDOW_MS: '10000' });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 6; i++) {
      last = await login(a);
      statuses.push(last.status);
    }
    const refusedAt = performance.now();
    expect(statuses).toEqual([422, 422, 422, 422, 422, 429]);
    expect(last?.headers.get('retry-after')).toMatch(/^[12]$/);
    expect(last?.headers.get('ratelimit-policy')).toBe('"ip";q=5;w=10');
    expect(last?.headers.get('ratelimit')).toMatch(/^"ip";r=0;t=([1-9]|10)$/);
    const body = (await last?.json()) as { error: string; details: { limit: string; limits: Array<{ retry_after: number }> } };
    expect(body.error).toBe('rate_limited');
    expect(body.details.limit).toBe('ip');
    expect(String(body.details.limits[0]?.retry_after)).toBe(last?.headers.get('retry-after'));
    await sleep(2_100 - (performance.now() - refusedAt));
    const again = await login(a);
    expect(again.status).toBe(422);
    expect(again.headers.get('ratelimit')).toMatch(/^"ip";r=0;t=([1-9]|10)$/);
    expect((await login(a)).status).toBe(429);
  });

  it('a second burst soon after a full one admits only what the emission interval gave back, never a second full quota', async () => {
    // 5 per second: T = 200 ms. A fixed one-second window could admit 5 + 5 here.
    const a = await app({ RATE_LIMIT_PER_MINUTE_IP: '5' });
    const hit = () => a.request('/.well-known/jwks.json').then((r) => r.status);
    const t0 = performance.now();
    const first = await Promise.all(Array.from({ length: 5 }, hit));
    const t1 = performance.now();
    expect(first).toEqual([200, 200, 200, 200, 200]);
    await sleep(400);
    const t2 = performance.now();
    const second = await Promise.all(Array.from({ length: 5 }, hit));
    const t3 = performance.now();
    const admitted = second.filter((s) => s === 200).length;
    // Bounds from the client's clock, which brackets the server's: at least what refilled between the
    // bursts, at most what refilled over the whole run (limit + floor(span / T) in all).
    expect(admitted).toBeGreaterThanOrEqual(Math.min(5, Math.floor((t2 - t1) / 200)));
    expect(admitted).toBeLessThanOrEqual(Math.floor((t3 - t0) / 200));
    expect(second.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
  });

  it('Redis holds one small string per limited identity, the same size whatever the limit', async () => {
    const client = new Redis(redis.url);
    try {
      const small = await app({ RATE_LIMIT_PER_MINUTE_IP: '3', RATE_LIMIT_WINDOW_MS: '3600000' });
      for (let i = 0; i < 3; i++) await small.request('/.well-known/jwks.json');
      const [smallKey] = await limitKeys(client);
      expect(smallKey).toBeDefined();
      const smallBytes = await client.memory('USAGE', smallKey as string);
      await client.flushall();
      // T = 360 ms: the 60 requests keep the key alive (it expires when its TAT passes).
      const large = await app({ RATE_LIMIT_PER_MINUTE_IP: '10000', RATE_LIMIT_WINDOW_MS: '3600000' });
      for (let i = 0; i < 60; i++) await large.request('/.well-known/jwks.json');
      const keys = await limitKeys(client);
      expect(keys).toEqual([smallKey]);
      expect(await client.type(smallKey as string)).toBe('string');
      expect(await client.memory('USAGE', smallKey as string)).toBe(smallBytes);
    } finally {
      client.disconnect();
    }
  });

  it('a request refused by the project limit is given back to the user limit (it counts against neither)', async () => {
    const a = await app({ RATE_LIMIT_PER_MINUTE_USER: '4', RATE_LIMIT_PER_MINUTE_PROJECT: '1', RATE_LIMIT_WINDOW_MS: '3600000' });
    const owner = await factories.createUser(a, 'Refund'); // user: 1 (GET /auth/me)
    const project = await factories.createProject(a, owner, 'Refund'); // user: 2
    const read = () => a.request(`/api/v1/projects/${project.id}`, { headers: owner.auth });
    expect((await read()).status).toBe(200); // user: 3, project: 1 (its quota)
    const refused = await read();
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { details: { limit: string } }).details.limit).toBe('project');
    // Had the refused read counted, the user would be at 4 and this list read refused.
    expect((await a.request('/api/v1/projects', { headers: owner.auth })).status).toBe(200); // user: 4
    const exhausted = await a.request('/api/v1/projects', { headers: owner.auth });
    expect(exhausted.status).toBe(429);
    expect(((await exhausted.json()) as { details: { limit: string } }).details.limit).toBe('user');
  });

  it('two instances on one Redis share the counters exactly: N concurrent requests with limit L admit exactly L', async () => {
    // 15 per 10 min: T = 40 s, so nothing is given back while the requests run.
    const a = await app({ RATE_LIMIT_PER_MINUTE_USER: '15', RATE_LIMIT_WINDOW_MS: '600000' });
    const b = await app({ RATE_LIMIT_PER_MINUTE_USER: '15', RATE_LIMIT_WINDOW_MS: '600000' });
    const user: TestUser = await factories.createUser(a, 'Shared'); // its own GET /auth/me counts once
    const bypassedBefore = await counter('rate_limit.bypassed');
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).request('/api/v1/auth/me', { headers: user.auth }).then((r) => r.status)),
    );
    // A store call slower than 250 ms (a loaded machine) is admitted uncounted (REL-001): exact otherwise.
    const bypassed = (await counter('rate_limit.bypassed')) - bypassedBefore;
    expect(results.filter((s) => s === 200).length - bypassed).toBeLessThanOrEqual(14);
    expect(results.filter((s) => s === 200).length).toBeGreaterThanOrEqual(14);
    expect(results.filter((s) => s === 429).length + results.filter((s) => s === 200).length).toBe(40);
  });

  it('the user limit follows the user across IPs; a user limited in one project is not limited in another', async () => {
    const a = await app({
      TRUSTED_PROXIES: '127.0.0.1',
      RATE_LIMIT_PER_MINUTE_IP: '1000',
      RATE_LIMIT_PER_MINUTE_USER: '8',
      RATE_LIMIT_PER_MINUTE_PROJECT: '3',
      RATE_LIMIT_WINDOW_MS: '3600000', // T ≥ 7.5 min: nothing is given back while the test runs
    });
    const owner = await factories.createUser(a, 'Limited');
    const p1 = await factories.createProject(a, owner, 'One');
    const p2 = await factories.createProject(a, owner, 'Two');
    const get = (project: string, ip: string) =>
      a.request(`/api/v1/projects/${project}`, { headers: { ...owner.auth, 'x-forwarded-for': ip } }).then((r) => r.status);
    expect([await get(p1.id, '10.0.0.1'), await get(p1.id, '10.0.0.2'), await get(p1.id, '10.0.0.3')]).toEqual([200, 200, 200]);
    const blocked = await a.request(`/api/v1/projects/${p1.id}`, { headers: { ...owner.auth, 'x-forwarded-for': '10.0.0.4' } });
    expect(blocked.status).toBe(429);
    expect(((await blocked.json()) as { details: { limit: string } }).details.limit).toBe('project');
    expect(await get(p2.id, '10.0.0.5')).toBe(200);
    // So far the user has 7 admitted requests (GET /auth/me in createUser, 2 creates, 4 reads):
    // the 8th passes from yet another IP, the 9th hits the user limit.
    expect((await a.request('/api/v1/projects', { headers: { ...owner.auth, 'x-forwarded-for': '10.9.9.8' } })).status).toBe(200);
    const afterUser = await a.request('/api/v1/projects', { headers: { ...owner.auth, 'x-forwarded-for': '10.9.9.9' } });
    expect(afterUser.status).toBe(429);
    expect(((await afterUser.json()) as { details: { limit: string } }).details.limit).toBe('user');
    expect(await counter('rate_limit.rejected', { limit: 'project' })).toBeGreaterThanOrEqual(1);
  });

  it('health and documentation are never limited', async () => {
    const a = await app({ RATE_LIMIT_PER_MINUTE_IP: '2' });
    for (let i = 0; i < 6; i++) {
      const res = await a.request('/api/v1/health/live');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit')).toBeNull();
      expect((await a.request('/docs/')).status).toBe(200);
      expect((await a.request('/openapi.json')).status).toBe(200);
    }
  });

  it('with every limit 0, nothing is limited and no headers are sent (that the step is not even installed: request-chain-order.test.ts)', async () => {
    const a = await app({});
    for (let i = 0; i < 5; i++) expect((await a.request('/.well-known/jwks.json')).headers.get('ratelimit')).toBeNull();
  });

  it('when Redis stops, requests are admitted, one warning is logged and the bypass is counted; when it returns, limiting resumes', async () => {
    const a = await app({ RATE_LIMIT_PER_MINUTE_IP: '3', RATE_LIMIT_WINDOW_MS: '60000' });
    const hit = () => a.request('/.well-known/jwks.json').then((r) => r.status);
    const bypassedBefore = await counter('rate_limit.bypassed');
    await redis.stop();
    try {
      const statuses = [];
      for (let i = 0; i < 8; i++) statuses.push(await hit());
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(a.logs.filter((l) => l.msg === 'rate limiter unavailable: admitting requests')).toHaveLength(1);
      expect((await counter('rate_limit.bypassed')) - bypassedBefore).toBe(8);
    } finally {
      await redis.start();
    }
    const t0 = performance.now();
    while ((await a.request('/api/v1/health/ready')).status !== 200 && performance.now() - t0 < 10_000) await sleep(100);
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await hit());
    expect(after).toEqual([200, 200, 200, 429]);
  }, 30_000);
});

/** Requests that look as if they came from `ip` (the app trusts 127.0.0.1 as its proxy). */
function from(ip: string, init: RequestInit = {}): RequestInit {
  return { ...init, headers: { ...(init.headers as Record<string, string> | undefined), 'x-forwarded-for': ip } };
}

async function statuses(n: number, send: () => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send()).status);
  return out;
}

describe('abuse paths: the IP limit runs before authentication (docs/contract.md §13)', () => {
  const limited = () => app({ TRUSTED_PROXIES: '127.0.0.1', RATE_LIMIT_PER_MINUTE_IP: '3', RATE_LIMIT_WINDOW_MS: '60000' });

  it('when a client floods with bad tokens, the 401s stop at the limit and 429s follow', async () => {
    const a = await limited();
    const send = () => a.request('/api/v1/auth/me', from('198.51.100.1', { headers: { authorization: 'Bearer not.a.token' } }));
    expect(await statuses(5, send)).toEqual([401, 401, 401, 429, 429]);
  });

  it('when a non-member floods a project, the 403s stop at the limit and cost no membership query past it', async () => {
    const a = await limited();
    const outsider = await factories.createUser(a, 'Outsider'); // from 127.0.0.1: its own counter
    const membershipQueries = vi.spyOn(a.app.services.access, 'require');
    const send = () => a.request(`/api/v1/projects/${randomUUID()}`, from('198.51.100.2', { headers: outsider.auth }));
    expect(await statuses(6, send)).toEqual([403, 403, 403, 429, 429, 429]);
    expect(membershipQueries).toHaveBeenCalledTimes(3);
  });

  it('when a client probes unknown routes, the 404s are limited too', async () => {
    const a = await limited();
    const send = () => a.request(`/api/v1/nothing-${randomUUID()}`, from('198.51.100.3'));
    expect(await statuses(5, send)).toEqual([404, 404, 404, 429, 429]);
  });

  it('when a client floods with oversized bodies, the 413s stop at the limit', async () => {
    const a = await app({
      TRUSTED_PROXIES: '127.0.0.1',
      RATE_LIMIT_PER_MINUTE_IP: '3',
      RATE_LIMIT_WINDOW_MS: '60000',
      BODY_LIMIT_BYTES: '1024',
    });
    const user = await factories.createUser(a, 'Bulky');
    const init = {
      method: 'POST',
      headers: { ...user.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(4096) }),
    };
    expect(await statuses(5, () => a.request('/api/v1/projects', from('198.51.100.4', init)))).toEqual([413, 413, 413, 429, 429]);
  });

  it('when IPv6 clients share a /64, they share one counter; another /64 has its own', async () => {
    const a = await limited();
    const send = (ip: string) => () => a.request('/.well-known/jwks.json', from(ip));
    expect(await statuses(2, send('2001:db8:1:2::1'))).toEqual([200, 200]);
    expect(await statuses(2, send('2001:db8:1:2:ffff:ffff:ffff:9'))).toEqual([200, 429]);
    expect(await statuses(1, send('2001:db8:1:3::1'))).toEqual([200]);
    // An IPv4 client written as IPv4-mapped IPv6 is the same client as its IPv4 form.
    expect(await statuses(3, send('::ffff:198.51.100.9'))).toEqual([200, 200, 200]);
    expect(await statuses(1, send('198.51.100.9'))).toEqual([429]);
  });
});

import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase } from '../../helpers/database.js';

/**
 * An address of this machine that is not loopback: a client bound to it reaches the app (on
 * 0.0.0.0) from a real non-loopback source address. Fails, never skips, when there is none.
 */
function nonLoopbackAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && !i.internal && i.family === 'IPv4');
  if (found === undefined) throw new Error('this machine has no non-loopback IPv4 address to test remote clients from');
  return found.address;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** POST over real HTTP from `from` (the source address) to the app's port on `to`. */
function post(
  server: RunningApp,
  path: string,
  { from, to, headers = {} }: { from: string; to: string; headers?: Record<string, string> },
) {
  const { port } = server.app.server.address() as AddressInfo;
  const body = JSON.stringify({ email: 'remote@example.com' });
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      { host: to, port, path, method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function devApp(env: Record<string, string> = {}): Promise<RunningApp> {
  const db = await createTestDatabase();
  return startApp({ DATABASE_URL: db.url, ...env }, { host: '0.0.0.0' });
}

/** What must not differ between "refused" and "no such route": everything but the per-request values. */
function comparable(answer: Answer) {
  const { correlation_id: _c, timestamp: _t, ...body } = answer.body;
  const { date: _d, 'x-correlation-id': _x, connection: _k, 'keep-alive': _a, ...headers } = answer.headers;
  return { status: answer.status, headers, body: { ...body, message: String(body.message).replace(/\/dev-log[io]n /, '/<path> ') } };
}

describe('POST /api/v1/auth/dev-login from other hosts (docs/contract.md §13)', () => {
  const remote = nonLoopbackAddress();

  it('when the client is on loopback, answers with a token', async () => {
    const server = await devApp();
    const res = await post(server, '/api/v1/auth/dev-login', { from: '127.0.0.1', to: '127.0.0.1' });
    expect(res.status).toBe(200);
    expect(typeof res.body.access_token).toBe('string');
  });

  it('when the client connects from a non-loopback address, answers 404 exactly as for a route that does not exist', async () => {
    const server = await devApp();
    const refused = await post(server, '/api/v1/auth/dev-login', { from: remote, to: remote });
    const unknown = await post(server, '/api/v1/auth/dev-logon', { from: remote, to: remote });
    expect(refused.status).toBe(404);
    expect(comparable(refused)).toEqual(comparable(unknown));
    expect(refused.body).toMatchObject({ error: 'not_found', message: 'Route POST /api/v1/auth/dev-login not found' });
  });

  it('when a remote client claims loopback in X-Forwarded-For and no proxy is trusted, still answers 404', async () => {
    const server = await devApp();
    const res = await post(server, '/api/v1/auth/dev-login', { from: remote, to: remote, headers: { 'x-forwarded-for': '127.0.0.1' } });
    expect(res.status).toBe(404);
  });

  it('when a trusted proxy on loopback forwards a remote client, answers 404 (the client, not the proxy, counts)', async () => {
    const server = await devApp({ TRUSTED_PROXIES: '127.0.0.1' });
    const res = await post(server, '/api/v1/auth/dev-login', {
      from: '127.0.0.1',
      to: '127.0.0.1',
      headers: { 'x-forwarded-for': remote },
    });
    expect(res.status).toBe(404);
  });

  it('when a trusted proxy forwards a loopback client, answers with a token', async () => {
    const server = await devApp({ TRUSTED_PROXIES: remote });
    const res = await post(server, '/api/v1/auth/dev-login', { from: remote, to: remote, headers: { 'x-forwarded-for': '127.0.0.1' } });
    expect(res.status).toBe(200);
  });

  it('when DEV_LOGIN_ANY_HOST=true, answers a non-loopback client with a token', async () => {
    const server = await devApp({ DEV_LOGIN_ANY_HOST: 'true' });
    const res = await post(server, '/api/v1/auth/dev-login', { from: remote, to: remote });
    expect(res.status).toBe(200);
    expect(typeof res.body.access_token).toBe('string');
  });
});

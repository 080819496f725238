import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort, spawnServer } from '../helpers/server-process.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe('server entry point', () => {
  it('when the configuration is invalid, logs one line per problem naming the variable and exits 1', async () => {
    const server = spawnServer({ PORT: 'eighty', LOG_LEVEL: 'loud', NODE_ENV: 'production' });
    const { code } = await server.exited;
    expect(code).toBe(1);
    const lines = server
      .stdout()
      .split('\n')
      .filter((l) => l.includes('invalid configuration'))
      .map((l) => JSON.parse(l) as { problem: string; level: string });
    const variables = lines.map((l) => l.problem.split(':')[0]);
    expect(variables).toEqual(expect.arrayContaining(['PORT', 'LOG_LEVEL', 'DATABASE_URL', 'REDIS_URL', 'JWT_PRIVATE_KEY']));
    expect(lines.every((l) => l.level === 'fatal')).toBe(true);
  });

  it('when the database never comes up, fails after 3 attempts with a clear line and exits 1', async () => {
    const deadPort = await freePort();
    const server = spawnServer({ DATABASE_URL: `postgresql://x:y@127.0.0.1:${deadPort}/none`, PORT: String(await freePort()) });
    const { code } = await server.exited;
    expect(code).toBe(1);
    const out = server.stdout();
    expect(out.match(/database connection failed/g)).toHaveLength(3);
    expect(out).toMatch(/start-up failed: The database is unavailable/);
    expect(out).toContain('ECONNREFUSED');
  });

  it('listens with LISTEN_BACKLOG as its accept queue (room for a reconnect storm, docs/adr/0028)', async () => {
    const port = await freePort();
    const server = spawnServer({ DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'test', LISTEN_BACKLOG: '777' });
    await server.waitForLine(/Server listening/);
    // For a listening socket, `ss` reports the backlog it was given as Send-Q (iproute2, on Debian by default).
    const { stdout } = await promisify(execFile)('ss', ['-Hltn', `sport = :${port}`]);
    const [, , sendQ] = stdout.trim().split(/\s+/);
    expect(Number(sendQ)).toBe(777);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('when SIGTERM arrives during a request, the request completes and the process exits 0 within 5 s', async () => {
    const port = await freePort();
    const server = spawnServer({ DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'test' });
    await server.waitForLine(/Server listening/);

    // A request whose body is still arriving when the signal comes: it is in flight.
    const body = JSON.stringify({ email: 'slow@example.com', name: 'Slow' });
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/api/v1/health/live',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 5));
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(5)), 300);
      }, 100);
    });

    const sentAt = performance.now() + 100;
    const result = await response;
    expect(result.status).toBe(404);
    expect(JSON.parse(result.text).error).toBe('not_found');
    const { code, atMs } = await server.exited;
    expect(code).toBe(0);
    expect(atMs - sentAt).toBeLessThan(5000);
    expect(server.stdout()).toContain('shutdown complete');
  });
});

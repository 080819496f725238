import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devLoginToken } from '../helpers/factories.js';
import { freePort, spawnServer } from '../helpers/server-process.js';

/*
 * What a newcomer gets from `npm start` on a fresh clone: no DATABASE_URL, so an embedded
 * PostgreSQL 18 is initialised in DATA_DIR, migrated, and reused on the next start.
 */
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-fresh-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function startAndCheck(): Promise<string> {
  const port = await freePort();
  const server = spawnServer({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'development' });
  try {
    await server.waitForLine(/Server listening/, 60_000);
    const ready = await fetch(`http://127.0.0.1:${port}/api/v1/health/ready`);
    expect(ready.status).toBe(200);
    const docs = await fetch(`http://127.0.0.1:${port}/docs/`);
    expect(docs.status).toBe(200);
    expect(await devLoginToken(`http://127.0.0.1:${port}`, 'newcomer@example.com')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  } finally {
    server.child.kill('SIGTERM');
  }
  const { code } = await server.exited;
  expect(code).toBe(0);
  return server.stdout();
}

describe('start with the embedded database', () => {
  it('on a fresh data directory, initialises PostgreSQL 18, migrates and serves; on the next start, reuses it', async () => {
    const first = await startAndCheck();
    expect(first).toContain('embedded PostgreSQL 18 started');
    expect(first).toContain('Up 0001_initial_schema');
    const second = await startAndCheck();
    expect(second).toContain('embedded PostgreSQL 18 started');
    expect(second).not.toContain('migrations applied');
  }, 120_000);

  it('npm run token prints a token for that database, accepted by the server', async () => {
    const tokenRun = spawnServer({ DATA_DIR: dataDir }, 'src/cli/token.ts', ['--email', 'cli@example.com', '--name', 'Cli']);
    const { code } = await tokenRun.exited;
    expect(code).toBe(0);
    const token = tokenRun.stdout().trim().split('\n').pop() ?? '';
    expect(token.split('.')).toHaveLength(3);

    const port = await freePort();
    const server = spawnServer({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' });
    try {
      await server.waitForLine(/Server listening/, 60_000);
      const me = await fetch(`http://127.0.0.1:${port}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ email: 'cli@example.com', name: 'Cli' });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 120_000);
});

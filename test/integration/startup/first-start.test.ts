import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSigningKeys } from '../../../src/auth/keys.js';
import { loadConfig } from '../../../src/config.js';
import { devLoginToken } from '../../helpers/factories.js';
import { freePort, type ServerProcess, spawnServer } from '../../helpers/server-process.js';

/*
 * First starts that go wrong on a real machine (issue 12): two processes starting at once on a
 * fresh DATA_DIR, a postmaster.pid whose pid now belongs to another program, and a cluster
 * PostgreSQL cannot start from. Real processes, the embedded PostgreSQL of `npm start`.
 */
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-first-start-'));
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string): Promise<{ server: ServerProcess; base: string }> {
  const port = await freePort();
  const server = spawnServer({ PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'development', DATA_DIR: dataDir });
  children.push(server.child);
  return { server, base: `http://127.0.0.1:${port}` };
}

async function stop(server: ServerProcess): Promise<number | null> {
  server.child.kill('SIGTERM');
  return (await server.exited).code;
}

describe('first start', () => {
  it('when two processes start at once on a fresh DATA_DIR, both serve with one cluster, one password and one JWT key pair', async () => {
    const dataDir = await freshDataDir();
    const [a, b] = await Promise.all([start(dataDir), start(dataDir)]);
    try {
      await Promise.all([a.server.waitForLine(/Server listening/, 120_000), b.server.waitForLine(/Server listening/, 120_000)]);
      for (const { base } of [a, b]) expect((await fetch(`${base}/api/v1/health/ready`)).status).toBe(200);

      // One cluster: the second process found the first one's server and shared it.
      const ports = [a, b].map(({ server }) => /"port":(\d+)[^\n]*embedded PostgreSQL 18 started/.exec(server.stdout())?.[1]);
      expect(ports[0]).toBeDefined();
      expect(ports[1]).toBe(ports[0]);

      // One key pair: a token made by one is accepted by the other, both ways.
      for (const [issuer, verifier] of [
        [a, b],
        [b, a],
      ] as const) {
        const token = await devLoginToken(issuer.base, 'twins@example.com');
        const me = await fetch(`${verifier.base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
        expect(me.status).toBe(200);
      }
      // Nothing half-made left beside them: no second password, no staging key directory, no initdb password file.
      expect(readdirSync(dataDir).sort()).toEqual(['jwt', 'postgres', 'postgres.secret']);
      expect(readdirSync(path.join(dataDir, 'jwt')).sort()).toEqual(['private.pem', 'public.pem']);
    } finally {
      // Whichever started the cluster stops it when it exits; both still exit 0.
      expect(await stop(b.server)).toBe(0);
      expect(await stop(a.server)).toBe(0);
    }
  }, 240_000);

  it('when key pairs are asked for concurrently on a fresh DATA_DIR, every caller gets the same pair', async () => {
    const dataDir = await freshDataDir();
    const result = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir }, (p) => readFileSync(p, 'utf8'));
    if (!result.ok) throw new Error(result.problems.join('; '));
    const keys = await Promise.all(Array.from({ length: 6 }, () => loadSigningKeys(result.config)));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    expect(readdirSync(dataDir)).toEqual(['jwt']);
  });

  it('when postmaster.pid names a live process that is not PostgreSQL, starts anyway', async () => {
    const dataDir = await freshDataDir();
    const first = await start(dataDir);
    await first.server.waitForLine(/Server listening/, 120_000);
    expect(await stop(first.server)).toBe(0);

    // After a crash and a reboot the recorded pid may belong to anything, here a `sleep` of the
    // user PostgreSQL runs as, which PostgreSQL itself may signal and so takes for a live server.
    const clusterDir = path.join(dataDir, 'postgres');
    const owner = process.getuid?.() === 0 ? statSync(clusterDir) : undefined;
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore', ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) });
    children.push(sleeper);
    await new Promise((resolve) => sleeper.once('spawn', resolve));
    writeFileSync(
      path.join(clusterDir, 'postmaster.pid'),
      `${sleeper.pid}\n${clusterDir}\n1764000000\n5432\n\n127.0.0.1\n  5432001 0\nready   \n`,
    );

    const second = await start(dataDir);
    try {
      await second.server.waitForLine(/Server listening/, 120_000);
      expect((await fetch(`${second.base}/api/v1/health/ready`)).status).toBe(200);
      expect(sleeper.exitCode).toBeNull();
    } finally {
      expect(await stop(second.server)).toBe(0);
      sleeper.kill('SIGKILL');
    }
  }, 240_000);

  it('when PostgreSQL cannot start from the cluster directory, logs one fatal line with the reason and exits 1', async () => {
    const dataDir = await freshDataDir();
    // A cluster directory that says it is initialised but holds nothing else.
    await mkdir(path.join(dataDir, 'postgres'), { recursive: true });
    await writeFile(path.join(dataDir, 'postgres', 'PG_VERSION'), '18\n');
    const { server } = await start(dataDir);
    const { code } = await server.exited;
    expect(code).toBe(1);
    const lines = server
      .stdout()
      .split('\n')
      .filter((l) => l.trim() !== '');
    // Every line is a JSON log line (no raw stack, no unhandled 'error' event), and exactly one is fatal.
    const parsed = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
    const fatal = parsed.filter((l) => l.level === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.msg).toMatch(
      /^start-up failed: embedded PostgreSQL failed to start in .*postgres: postgres exited \(exit \d+\) before it was ready: .+/,
    );
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 120_000);
});

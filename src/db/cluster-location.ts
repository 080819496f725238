import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, realpath, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { copyBinaries, type PostgresBinaries } from './postgres-binaries.js';
import type { RunAs } from './postgres-process.js';

const run = promisify(execFile);

/** Where relocated clusters go: persistent (not /var/tmp, which systemd ages out after 30 days). */
export const RELOCATION_ROOT = '/var/lib/jeex-api';

export interface ClusterLocation {
  readonly clusterDir: string;
  readonly binaries: PostgresBinaries;
  /** As root: the `postgres` user that runs initdb and the server. */
  readonly runAs: RunAs | undefined;
  /** Set when the cluster or the binaries had to move where the `postgres` user can reach them. */
  readonly relocation: { readonly message: string } | undefined;
}

/**
 * Where the cluster of DATA_DIR lives. Not root: DATA_DIR/postgres, nothing else to decide.
 * As root, PostgreSQL runs as `postgres` (created if absent), which must traverse every
 * ancestor of the cluster and of the binaries; a checkout or DATA_DIR under a 0700 directory
 * (/root/app, a `mktemp -d`) is out of its reach. Then the cluster (and, if needed, a copy of
 * the binaries) goes under RELOCATION_ROOT: the cluster to pg-<hash of realpath(DATA_DIR)>, the
 * binaries to bin-<hash of their realpath>: the same places on every start of this checkout.
 */
export async function locateCluster(dataDir: string, binaries: PostgresBinaries): Promise<ClusterLocation> {
  const ownDir = path.join(dataDir, 'postgres');
  if (process.getuid?.() !== 0) return { clusterDir: ownDir, binaries, runAs: undefined, relocation: undefined };

  const runAs = await postgresUser();
  const dataReachable = await reachableBy(runAs, [dataDir], []);
  const binariesReachable = await reachableBy(
    runAs,
    [path.join(binaries.nativeDir, 'lib'), path.join(binaries.nativeDir, 'share')],
    [binaries.initdb, binaries.postgres],
  );
  if (dataReachable && binariesReachable) {
    await ownedBy(runAs, ownDir);
    return { clusterDir: ownDir, binaries, runAs, relocation: undefined };
  }

  const unreachable = [dataReachable ? undefined : dataDir, binariesReachable ? undefined : binaries.nativeDir].filter(Boolean);
  const clusterDir = dataReachable ? ownDir : path.join(await relocationDir('pg', dataDir), 'postgres');
  await ownedBy(runAs, clusterDir);
  // One copy per node_modules, shared by every DATA_DIR of that checkout (the test runs' too).
  const served = binariesReachable ? binaries : await copyBinaries(binaries, await relocationDir('bin', binaries.nativeDir));
  return {
    clusterDir,
    binaries: served,
    runAs,
    relocation: {
      message: `embedded PostgreSQL relocated (the postgres user cannot reach ${unreachable.join(' nor ')}): cluster in ${clusterDir}, server binaries in ${served.nativeDir}`,
    },
  };
}

/** RELOCATION_ROOT/<kind>-<first 16 hex of sha256(realpath(source))>, with a note of what it belongs to. */
async function relocationDir(kind: 'pg' | 'bin', source: string): Promise<string> {
  const real = await realpath(source);
  const dir = path.join(RELOCATION_ROOT, `${kind}-${createHash('sha256').update(real).digest('hex').slice(0, 16)}`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(RELOCATION_ROOT, 0o755);
  await chmod(dir, 0o755);
  await writeFile(path.join(dir, 'SOURCE'), `${real}\n`);
  return dir;
}

async function postgresUser(): Promise<RunAs> {
  const ids = async (): Promise<RunAs> => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    try {
      await run('groupadd', ['--system', 'postgres']).catch(() => undefined);
      await run('useradd', ['--system', '-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
      return await ids();
    } catch (error) {
      throw new Error(`PostgreSQL cannot run as root and the postgres user could not be created: ${(error as Error).message}`);
    }
  }
}

/** Asked of the `postgres` user itself (with no supplementary groups, as the server will run). */
async function reachableBy(runAs: RunAs, dirs: readonly string[], executables: readonly string[]): Promise<boolean> {
  const tests = [
    ...dirs.map((d) => `test -x '${d.replaceAll("'", "'\\''")}'`),
    ...executables.map((f) => `test -x '${f.replaceAll("'", "'\\''")}'`),
  ];
  try {
    await run('/bin/sh', ['-c', tests.join(' && ')], { uid: runAs.uid, gid: runAs.gid, cwd: '/' });
    return true;
  } catch {
    return false;
  }
}

/** The cluster directory belongs to `postgres` with mode 0700, as the server demands. */
async function ownedBy(runAs: RunAs, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const current = await stat(dir);
  if (current.uid !== runAs.uid || current.gid !== runAs.gid) await chown(dir, runAs.uid, runAs.gid);
  if ((current.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
}

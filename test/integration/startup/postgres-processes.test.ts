import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyBinaries, locateBinaries, type PostgresBinaries } from '../../../src/db/postgres-binaries.js';
import { initCluster, PWFILE_PREFIX, type RunAs, startServer } from '../../../src/db/postgres-process.js';

/*
 * initdb and postgres as the app spawns them (src/db/postgres-process.ts), with the real
 * binaries. The initdb below is the real one behind a two-line wrapper that records what the
 * password file looks like while initdb reads it.
 */
let dir: string;
let binaries: PostgresBinaries;
let runAs: RunAs | undefined;
let record: string;
let watched: PostgresBinaries;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jeex-pg-processes-'));
  chmodSync(dir, 0o755); // as root, initdb runs as `postgres`, which must get in
  // A copy in this 0755 directory: as root, initdb runs as `postgres`, which cannot reach a
  // checkout in a private directory (a clone in /root).
  binaries = await copyBinaries(await locateBinaries(), dir);
  if (process.getuid?.() === 0) {
    runAs = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
    };
  }
  record = path.join(dir, 'pwfile-seen');
  writeFileSync(record, '');
  chmodSync(record, 0o666);
  const wrapper = path.join(dir, 'initdb');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nfor a in "$@"; do case "$a" in --pwfile=*) f="\${a#--pwfile=}"; stat -c '%a %U %n' "$f" >> '${record}';; esac; done\nexec '${binaries.initdb}' "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
  watched = { ...binaries, initdb: wrapper };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function clusterDir(name: string): string {
  const parent = path.join(dir, name);
  const cluster = path.join(parent, 'postgres');
  mkdirSync(parent, { mode: 0o755 });
  mkdirSync(cluster, { mode: 0o700 });
  if (runAs) {
    chownSync(cluster, runAs.uid, runAs.gid);
  }
  return cluster;
}

const leftovers = (cluster: string) => readdirSync(path.dirname(cluster)).filter((e) => e.startsWith(PWFILE_PREFIX));
const base = { user: 'postgres', password: 'p4ss-word', flags: ['--locale=C', '--encoding=UTF8'], onLog: () => undefined };

describe('initdb', () => {
  it('reads the password from a 0600 file of its own user beside the cluster, removed once it is done', async () => {
    const cluster = clusterDir('ok');
    await initCluster({ ...base, binaries: watched, clusterDir: cluster, runAs });
    const [mode, owner, file] = readFileSync(record, 'utf8').trim().split('\n').at(-1)?.split(' ') ?? [];
    expect(mode).toBe('600');
    expect(owner).toBe(runAs ? 'postgres' : execFileSync('id', ['-un']).toString().trim());
    expect(path.dirname(file ?? '')).toBe(path.dirname(cluster));
    expect(leftovers(cluster)).toEqual([]);
    expect(readFileSync(path.join(cluster, 'PG_VERSION'), 'utf8').trim()).toBe('18');
  }, 60_000);

  it('when initdb fails, rejects with its last lines and still removes the password file', async () => {
    const cluster = clusterDir('not-empty');
    writeFileSync(path.join(cluster, 'something'), 'x');
    const error = await initCluster({ ...base, binaries: watched, clusterDir: cluster, runAs }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/^initdb failed \(exit 1\): .*exists but is not empty/);
    expect(leftovers(cluster)).toEqual([]);
  }, 60_000);

  it('when the program cannot be run, rejects (no unhandled error event) and removes the password file', async () => {
    const cluster = clusterDir('missing');
    const error = await initCluster({
      ...base,
      binaries: { ...binaries, initdb: path.join(dir, 'nowhere', 'initdb') },
      clusterDir: cluster,
      runAs,
    }).catch((e: Error) => e);
    expect((error as Error).message).toBe(`cannot run ${path.join(dir, 'nowhere', 'initdb')}: ENOENT`);
    expect(leftovers(cluster)).toEqual([]);
  });
});

describe('postgres', () => {
  it('when the program cannot be run, rejects with the reason instead of an unhandled error event', async () => {
    const error = await startServer({
      binaries: { ...binaries, postgres: path.join(dir, 'nowhere', 'postgres') },
      clusterDir: clusterDir('no-server'),
      runAs,
      port: 1,
      flags: [],
      onLog: () => undefined,
    }).catch((e: Error) => e);
    expect((error as Error).message).toBe(`cannot run ${path.join(dir, 'nowhere', 'postgres')}: ENOENT`);
  });
});

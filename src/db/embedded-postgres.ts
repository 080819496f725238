import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../lib/free-port.js';
import { type ClusterLocation, locateCluster } from './cluster-location.js';
import { locateBinaries } from './postgres-binaries.js';
import { initCluster, PWFILE_PREFIX, type ServerProcess, startServer } from './postgres-process.js';

/*
 * The embedded PostgreSQL 18 of `npm start` without DATABASE_URL (docs/adr/0006, 0012).
 * Nothing here is loaded by a process that has DATABASE_URL beyond this module itself: the
 * binaries package and the lock library are imported on first use.
 */

export interface EmbeddedPostgresOptions {
  /** Cluster directory; created and initialised on first use, reused afterwards. */
  readonly dataDir: string;
  readonly onLog?: (line: string) => void;
  /** Once, when the cluster had to move out of DATA_DIR (root, private directory). */
  readonly onNotice?: (message: string, fields: Readonly<Record<string, string>>) => void;
  /** A fixed port (a restart that clients must find again); default: a free port. */
  readonly port?: number;
  /** Extra `-c name=value` server settings (tests turn durability off). */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface RunningPostgres {
  readonly url: (database?: string) => string;
  readonly port: number;
  /** Where the cluster's files are (DATA_DIR/postgres, or its relocation). */
  readonly clusterDir: string;
  readonly stop: () => Promise<void>;
}

const USER = 'postgres';
const INITDB_FLAGS = ['--locale=C', '--encoding=UTF8', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'];

/**
 * The cluster password, generated once and kept beside the cluster (0600). Written to a
 * temporary file and hard-linked into place, which fails if the name exists: two first
 * starts cannot end with two passwords, and a crash never leaves a half-written one.
 */
async function clusterPassword(secretFile: string): Promise<string> {
  if (existsSync(secretFile)) return (await readFile(secretFile, 'utf8')).trim();
  const candidate = `${secretFile}.${randomBytes(6).toString('hex')}`;
  await writeFile(candidate, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(candidate, secretFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(candidate, { force: true });
  }
  return (await readFile(secretFile, 'utf8')).trim();
}

interface PidFile {
  readonly pid: number;
  readonly port: number;
  /** The process is alive and is a postgres server of this cluster. */
  readonly ours: boolean;
  /** Its parent (the process that started it) is still alive: another app or CLI owns it. */
  readonly owned: boolean;
}

/** What postmaster.pid says, checked against /proc: ours, or a stale file naming something else. */
async function readPidFile(clusterDir: string): Promise<PidFile | undefined> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return { pid: 0, port, ours: false, owned: false };
  let cmdline: string;
  let stat: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return { pid, port, ours: false, owned: false }; // dead: PostgreSQL recovers such a file by itself
  }
  const program = path.basename(cmdline.split(' ')[0] ?? '');
  if (!program.startsWith('postgres')) return { pid, port, ours: false, owned: false };
  const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '', 10);
  return { pid, port, ours: cmdline.includes(clusterDir), owned: ppid > 1 && existsSync(`/proc/${ppid}`) };
}

/**
 * A postmaster.pid that names a live process which is not a postgres server (the pid was
 * reused after a crash or a reboot) makes PostgreSQL refuse to start whenever it may signal
 * that process: it is stale, remove it. One naming a postgres process is left to PostgreSQL's
 * own checks.
 */
async function clearStalePidFile(clusterDir: string, pidFile: PidFile): Promise<void> {
  if (pidFile.ours || pidFile.pid === 0) return;
  if (!existsSync(`/proc/${pidFile.pid}`)) return;
  await rm(path.join(clusterDir, 'postmaster.pid'), { force: true });
}

/**
 * A PostgreSQL left running by a parent that was SIGKILLed keeps the port and
 * postmaster.pid, and the next start fails on the lock (docs/facts.md): stop the orphan.
 */
async function reclaimOrphan(clusterDir: string, pid: number): Promise<void> {
  process.kill(pid, 'SIGINT');
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  for (let i = 0; i < 200 && existsSync(pidFile); i++) await sleep(50);
}

/** initdb password files of a process killed while initdb ran. */
async function removeStalePasswordFiles(dir: string): Promise<void> {
  for (const entry of await readdir(dir).catch(() => [])) {
    if (entry.startsWith(PWFILE_PREFIX)) await rm(path.join(dir, entry), { force: true });
  }
}

/**
 * Holds DATA_DIR's start-up lock while `task` runs: two processes starting at once on a fresh
 * DATA_DIR would otherwise both run initdb. The second one waits, then finds the first one's
 * server running and shares it.
 */
async function withStartLock<T>(root: string, task: () => Promise<T>): Promise<T> {
  const { default: lockfile } = await import('proper-lockfile');
  let compromised: Error | undefined;
  const release = await lockfile.lock(root, {
    lockfilePath: path.join(root, 'postgres.lock'),
    realpath: false,
    stale: 15_000,
    retries: { retries: 600, minTimeout: 50, maxTimeout: 200, factor: 1.2 },
    // The default handler throws from a timer (an uncaught exception): report it instead.
    onCompromised: (error) => {
      compromised = error;
    },
  });
  try {
    const result = await task();
    if (compromised) throw new Error(`the start-up lock on ${root} was lost: ${compromised.message}`);
    return result;
  } finally {
    await release().catch(() => undefined);
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const root = path.resolve(options.dataDir);
  await mkdir(root, { recursive: true, mode: 0o755 });
  // As root the `postgres` user must traverse DATA_DIR to reach DATA_DIR/postgres.
  if (process.getuid?.() === 0) await chmod(root, 0o755);
  const onLog = options.onLog ?? (() => undefined);

  return withStartLock(root, async () => {
    const secretFile = path.join(root, 'postgres.secret');
    const freshDataDir = !existsSync(secretFile);
    const location = await locateCluster(root, await locateBinaries());
    const { clusterDir } = location;
    if (location.relocation) {
      options.onNotice?.(location.relocation.message, {
        cluster_dir: clusterDir,
        binaries_dir: location.binaries.nativeDir,
        data_dir: root,
      });
    }
    const password = await clusterPassword(secretFile);
    const url =
      (port: number) =>
      (database = 'postgres') =>
        `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;

    const pidFile = await readPidFile(clusterDir);
    if (pidFile?.ours && pidFile.owned) {
      // Another process of ours (a running server, `npm run token`) has it up: share it and
      // leave stopping it to its owner.
      return { port: pidFile.port, url: url(pidFile.port), clusterDir, stop: async () => undefined };
    }
    if (pidFile?.ours) await reclaimOrphan(clusterDir, pidFile.pid);
    else if (pidFile) await clearStalePidFile(clusterDir, pidFile);

    await removeStalePasswordFiles(path.dirname(clusterDir));
    // A relocated cluster outlives its DATA_DIR; a new DATA_DIR at the same path (the old one
    // deleted to start over) has a new password, and gets a new cluster too.
    const leftOver = freshDataDir && clusterDir !== path.join(root, 'postgres');
    if (leftOver || !existsSync(path.join(clusterDir, 'PG_VERSION'))) await initialise(location, password, onLog);
    const server = await startOnFreePort(location, options, onLog);
    return { port: server.port, url: url(server.port), clusterDir, stop: server.stop };
  });
}

/** From an empty directory: whatever is there is an initdb cut short, or a cluster to replace. */
async function initialise(location: ClusterLocation, password: string, onLog: (line: string) => void): Promise<void> {
  const { clusterDir, runAs } = location;
  await rm(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { mode: 0o700 });
  if (runAs) await chown(clusterDir, runAs.uid, runAs.gid);
  await initCluster({ ...location, user: USER, password, flags: INITDB_FLAGS, onLog });
}

async function startOnFreePort(
  location: ClusterLocation,
  options: EmbeddedPostgresOptions,
  onLog: (line: string) => void,
): Promise<{ port: number } & ServerProcess> {
  const flags = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    ...Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = attempt === 1 && options.port !== undefined ? options.port : await freePort();
    try {
      const server = await startServer({ ...location, port, flags, onLog });
      return { port, pid: server.pid, stop: server.stop };
    } catch (error) {
      lastError = error;
      // A clash on the port we picked shows up as a failed start: pick another and retry.
      if (!/could not bind|Address already in use|could not create any TCP\/IP sockets/i.test((error as Error).message)) break;
    }
  }
  throw new Error(
    `embedded PostgreSQL failed to start in ${location.clusterDir}: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
  );
}

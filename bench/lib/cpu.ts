import { readdirSync, readFileSync } from 'node:fs';

/**
 * Who used the CPU during a round (Linux /proc; elsewhere every figure is undefined):
 * - others: processes that are not ours. The machine has 2 vCPUs and other people run test
 *   suites on it; a round they disturbed is not a measurement of our server.
 * - generator: this process (autocannon). Near 100 % it, not the server, sets the ceiling.
 * - server: the target's process tree (with its PostgreSQL).
 * - serverProcess: the server's own process alone (Node, its threads; not PostgreSQL), which
 *   tells whether the app or its database was the busier.
 */
export interface CpuUse {
  readonly others: number;
  readonly generator: number;
  readonly server: number;
  readonly serverProcess: number;
}

interface Sample {
  readonly at: number;
  /**
   * Clock ticks (USER_HZ = 100) the machine spent in user and system mode. irq and softirq
   * are left out: depending on the kernel, loopback TCP work is counted there or in the
   * stime of the process it interrupted, and it must not count as someone else's.
   */
  readonly machine: number;
  readonly ours: number;
  readonly generator: number;
  readonly server: number;
  readonly serverProcess: number;
}

const TICKS_PER_SECOND = 100;

function machineBusy(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0] = fields;
  return user + nice + system;
}

/** pid → parent and utime + stime, from /proc/<pid>/stat (fields 4, 14, 15). */
function processes(): Map<number, { ppid: number; ticks: number }> {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: fields start after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // the process ended between readdir and read
    }
  }
  return procs;
}

function treeTicks(procs: Map<number, { ppid: number; ticks: number }>, root: number): number {
  const tree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!tree.has(pid) && tree.has(p.ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of tree) total += procs.get(pid)?.ticks ?? 0;
  return total;
}

/**
 * `server` may name several process trees: the app and what stands in for its own
 * infrastructure (a redis-server the bench started for it), so their CPU counts as the server's.
 */
export function sampleCpu(server: number | readonly number[] | undefined): Sample | undefined {
  const roots = server === undefined ? [] : typeof server === 'number' ? [server] : server;
  try {
    const procs = processes();
    return {
      at: performance.now(),
      machine: machineBusy(),
      ours: treeTicks(procs, process.pid),
      generator: procs.get(process.pid)?.ticks ?? 0,
      server: roots.reduce((sum, pid) => sum + treeTicks(procs, pid), 0),
      serverProcess: roots[0] === undefined ? 0 : (procs.get(roots[0])?.ticks ?? 0),
    };
  } catch {
    return undefined;
  }
}

/** CPU use between two samples, each in % of one CPU (200 = both vCPUs of this machine). */
export function cpuUse(from: Sample | undefined, to: Sample | undefined): CpuUse | undefined {
  if (!from || !to) return undefined;
  const perCent = (ticks: number) => Math.max(0, (ticks / TICKS_PER_SECOND / ((to.at - from.at) / 1000)) * 100);
  return {
    others: perCent(to.machine - from.machine - (to.ours - from.ours)),
    generator: perCent(to.generator - from.generator),
    server: perCent(to.server - from.server),
    serverProcess: perCent(to.serverProcess - from.serverProcess),
  };
}

/** CPU seconds used so far by each process tree (its root and every descendant). */
export function treeCpuSeconds(roots: readonly number[]): number[] {
  try {
    const procs = processes();
    return roots.map((pid) => treeTicks(procs, pid) / TICKS_PER_SECOND);
  } catch {
    return roots.map(() => Number.NaN);
  }
}

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Where, when and what was measured: figures from different machines or code do not compare. */
export interface Machine {
  readonly date: string;
  readonly cpus: string;
  readonly memory: string;
  readonly cpuModel: string;
  readonly node: string;
  readonly loadAverage: string;
  /** The commit measured, and whether src/ differed from it (the app is measured as it is on disk). */
  readonly revision: string;
}

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** The same commands a person would type (`date -u`, `nproc`, `free -h`), so the record is checkable. */
export function describeMachine(): Machine {
  const memLine = run('free', ['-h'])
    .split('\n')
    .find((line) => line.startsWith('Mem:'));
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    // not Linux: leave it unknown
  }
  return {
    date: run('date', ['-u']),
    cpus: run('nproc', []),
    memory: memLine?.split(/\s+/)[1] ?? 'unknown',
    cpuModel,
    node: process.version,
    revision: `${run('git', ['rev-parse', '--short', 'HEAD'])}${run('git', ['status', '--porcelain', '--', 'src']) === '' ? '' : ' + uncommitted changes in src/'}`,
    loadAverage: loadavg()
      .map((n) => n.toFixed(2))
      .join(' '),
  };
}

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Where and when a result was measured: figures from different machines do not compare. */
export interface Machine {
  readonly date: string;
  readonly cpus: string;
  readonly memory: string;
  readonly cpuModel: string;
  readonly node: string;
  readonly loadAverage: string;
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
    loadAverage: loadavg()
      .map((n) => n.toFixed(2))
      .join(' '),
  };
}

import type { Machine } from '../lib/machine.js';

/** What a scenario that is not a plain autocannon comparison gets from the harness (run.ts). */
export interface ScenarioContext {
  readonly name: string;
  readonly title: string;
  /** The repository root: the servers' working directory. */
  readonly root: string;
  /** The command line, recorded in the section. */
  readonly command: string;
  readonly machine: Machine;
  /** `--cpu-prof` flags for a child when BENCH_CPU_PROF is set, the profile named after the label. */
  readonly cpuProfArgs: (label: string) => string[];
  readonly maxForeignCpu: number;
  readonly quietWaitMs: number;
  readonly log: (line: string) => void;
}

export interface ScenarioResult {
  /** The section's Markdown, from its `##` title on. */
  readonly body: string;
  /** Ran at the default length or longer: a measurement worth recording (see run.ts). */
  readonly full: boolean;
}

export function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: an integer ≥ ${min} (got "${raw}")`);
  return n;
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const fixed = (n: number, digits = 1) => n.toFixed(digits);

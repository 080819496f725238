import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { CpuUse } from './cpu.js';
import type { TargetSummary } from './load.js';
import type { Machine } from './machine.js';
import { median } from './stats.js';

/** numerator/denominator of median req/s; with `min`, a goal the run is judged against. */
export interface Ratio {
  readonly numerator: string;
  readonly denominator: string;
  readonly min?: number;
}

export interface SectionInput {
  readonly name: string;
  readonly title: string;
  readonly method: string;
  readonly command: string;
  readonly machine: Machine;
  readonly summaries: readonly TargetSummary[];
  /** label → what that server is, for the table. */
  readonly describe: (label: string) => string;
  readonly ratios: readonly Ratio[];
}

const DISTURBED = '†';
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** Medians over the rounds, in % of one CPU: shows which side of the benchmark was saturated. */
function cpuCell(s: TargetSummary): string {
  const uses = s.rounds.flatMap((r) => (r.cpu ? [r.cpu] : []));
  if (uses.length === 0) return '?';
  const of = (pick: (u: CpuUse) => number) => String(Math.round(median(uses.map(pick))));
  return `${of((u) => u.generator)} / ${of((u) => u.server)} / ${of((u) => u.others)}`;
}

/**
 * Server CPU time per request (median over rounds): the cost of one request on our side,
 * steadier than req/s when the load generator and the server share 2 vCPUs.
 */
function costCell(s: TargetSummary): string {
  const costs = s.rounds.flatMap((r) => (r.cpu && r.reqPerSec > 0 ? [(r.cpu.server / 100 / r.reqPerSec) * 1e6] : []));
  return costs.length === 0 ? '?' : median(costs).toFixed(1);
}

export function ratioOf(summaries: readonly TargetSummary[], ratio: Ratio): number {
  const get = (label: string) => {
    const found = summaries.find((s) => s.label === label);
    if (!found) throw new Error(`ratio names an unknown target: ${label}`);
    return found.medianReqPerSec;
  };
  return get(ratio.numerator) / get(ratio.denominator);
}

function ratioLine(summaries: readonly TargetSummary[], ratio: Ratio): string {
  const value = ratioOf(summaries, ratio);
  const text = `**${ratio.numerator}/${ratio.denominator} = ${value.toFixed(2)}** (${Math.round(value * 100)} % of ${ratio.denominator}'s req/s)`;
  if (ratio.min === undefined) return `- ${text}`;
  const verdict = value >= ratio.min ? 'goal met' : 'goal MISSED';
  return `- ${text} — goal ≥ ${ratio.min.toFixed(2)}: ${verdict}`;
}

/** The results table alone: also what goes to stdout. */
export function table(input: Pick<SectionInput, 'summaries' | 'describe'>): string {
  const baseline = input.summaries[0];
  const rows = input.summaries.map((s) => {
    const vs = baseline ? (s.medianReqPerSec / baseline.medianReqPerSec).toFixed(2) : '–';
    const perRound = s.rounds.map((r) => `${int(r.reqPerSec)}${r.disturbed ? DISTURBED : ''}`).join(' / ');
    return `| ${s.label} | ${input.describe(s.label)} | ${int(s.medianReqPerSec)} | ${ms(s.medianP99Ms)} | ${perRound} | ${cpuCell(s)} | ${costCell(s)} | ${vs} |`;
  });
  return [
    `| target | server | median req/s | median p99 (ms) | req/s per round | CPU % autocannon / server / others | server CPU µs/req | vs ${baseline?.label ?? 'baseline'} |`,
    '|---|---|---:|---:|---|---|---:|---:|',
    ...rows,
  ].join('\n');
}

/** A run whose rounds were disturbed says so next to its verdict, instead of passing for a measurement. */
function disturbedNote(summaries: readonly TargetSummary[]): string[] {
  const count = summaries.reduce((n, s) => n + s.rounds.filter((r) => r.disturbed).length, 0);
  if (count === 0) return [];
  return [
    `- ${DISTURBED} ${count} round(s) stayed disturbed by other processes after every retry: these figures are NOT reliable; run again on a quiet machine.`,
  ];
}

export function section(input: SectionInput): string {
  const m = input.machine;
  return [
    `## ${input.name} — ${input.title}`,
    '',
    `- Date: ${m.date}`,
    `- Code: ${m.revision}`,
    `- Machine: ${m.cpus} vCPU (nproc), ${m.memory} RAM (free -h total), ${m.cpuModel}, Node ${m.node}; load average at start ${m.loadAverage}`,
    `- Command: \`${input.command}\``,
    `- Method: ${input.method}`,
    '',
    table(input),
    '',
    ...input.ratios.map((r) => ratioLine(input.summaries, r)),
    ...disturbedNote(input.summaries),
  ].join('\n');
}

const HEADER = `# JEEX API — load benchmarks

Harness: \`bench/run.ts\` (autocannon in the parent, every server in its own child process).
Run \`npm run bench\` (default scenarios) or \`npm run bench -- <scenario…|all>\`; knobs:
BENCH_DURATION (s per round, default 5), BENCH_ROUNDS (default 3), BENCH_WARMUP (s, default 3),
BENCH_CONNECTIONS (default 64), BENCH_CPU_PROF=<dir> (\`--cpu-prof\` on every server child),
BENCH_MAX_FOREIGN_CPU (default 25), BENCH_QUIET_WAIT (s, default 120), BENCH_RETRIES (default 3):
each round first waits (up to BENCH_QUIET_WAIT) until other processes use at most that % of
one CPU, and is redone (up to BENCH_RETRIES times) if they used more during it,
BENCH_PIN=1 (autocannon on CPU 0, servers on CPU 1 with taskset).
Runs shorter than the defaults, or profiled, only print; BENCH_RECORD=1 records them anyway, BENCH_RECORD=0 never records.
Scenarios (the table in run.ts): \`health\` (default); one-off comparisons \`helmet\` and \`anatomy\`.

**Target: the full request chain serves ≥ 70 % of the throughput of a bare \`node:http\` server
answering the same body (\`health\` scenario, app/bare ratio of median req/s).**

Each section below is rewritten by the harness when its scenario is run; text outside the
\`<!-- bench:… -->\` markers is left alone.
`;

/** Replaces the scenario's section between its markers, or appends it; creates the file with its header. */
export async function recordSection(file: string, name: string, body: string): Promise<void> {
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${begin}\n${body}\n${end}`;
  const current = existsSync(file) ? await readFile(file, 'utf8') : HEADER;
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  const next =
    from !== -1 && to > from ? `${current.slice(0, from)}${block}${current.slice(to + end.length)}` : `${current.trimEnd()}\n\n${block}\n`;
  await writeFile(file, next);
}

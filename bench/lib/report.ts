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

/** A goal on a target's median p99 latency. */
export interface LatencyGoal {
  readonly label: string;
  readonly maxP99Ms: number;
}

/** A column a scenario adds to the table (spans per request, Redis commands per request): label → cell. */
export interface ExtraColumn {
  readonly header: string;
  readonly cells: ReadonlyMap<string, string>;
}

/** What every section starts with: where, when, how. */
export interface SectionHead {
  readonly name: string;
  readonly title: string;
  readonly method: string;
  readonly command: string;
  readonly machine: Machine;
}

export interface SectionInput extends SectionHead {
  readonly summaries: readonly TargetSummary[];
  /** label → what that server is, for the table. */
  readonly describe: (label: string) => string;
  readonly ratios: readonly Ratio[];
  readonly latencyGoals?: readonly LatencyGoal[];
  readonly extraColumns?: readonly ExtraColumn[];
  /** Lines after the verdicts (figures measured beside the load, caveats). */
  readonly notes?: readonly string[];
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
 * steadier than req/s when the load generator and the server share 2 vCPUs. In brackets the
 * server's Node process alone, without its PostgreSQL (and Redis) — where the rest went.
 */
function costCell(s: TargetSummary): string {
  const cost = cpuPerRequest(s);
  return cost === undefined ? '?' : `${cost.server.toFixed(1)} (${cost.node.toFixed(1)})`;
}

/** The medians behind the cost column, in CPU µs per request: the server's process tree, and its Node process alone. */
export function cpuPerRequest(s: TargetSummary): { server: number; node: number } | undefined {
  const per = (pick: (u: CpuUse) => number) =>
    s.rounds.flatMap((r) => (r.cpu && r.reqPerSec > 0 ? [(pick(r.cpu) / 100 / r.reqPerSec) * 1e6] : []));
  const server = per((u) => u.server);
  return server.length === 0 ? undefined : { server: median(server), node: median(per((u) => u.serverProcess)) };
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
export function table(input: Pick<SectionInput, 'summaries' | 'describe' | 'extraColumns'>): string {
  const baseline = input.summaries[0];
  const extra = input.extraColumns ?? [];
  const rows = input.summaries.map((s) => {
    const vs = baseline ? (s.medianReqPerSec / baseline.medianReqPerSec).toFixed(2) : '–';
    const perRound = s.rounds.map((r) => `${int(r.reqPerSec)}${r.disturbed ? DISTURBED : ''}`).join(' / ');
    const extraCells = extra.map((c) => ` ${c.cells.get(s.label) ?? '–'} |`).join('');
    return `| ${s.label} | ${input.describe(s.label)} | ${int(s.medianReqPerSec)} | ${ms(s.medianP99Ms)} | ${perRound} | ${cpuCell(s)} | ${costCell(s)} |${extraCells} ${vs} |`;
  });
  return [
    `| target | server | median req/s | median p99 (ms) | req/s per round | CPU % autocannon / server / others | server CPU µs/req (Node process alone) |${extra.map((c) => ` ${c.header} |`).join('')} vs ${baseline?.label ?? 'baseline'} |`,
    `|---|---|---:|---:|---|---|---:|${extra.map(() => '---:|').join('')}---:|`,
    ...rows,
  ].join('\n');
}

function latencyLine(summaries: readonly TargetSummary[], goal: LatencyGoal): string {
  const found = summaries.find((s) => s.label === goal.label);
  if (!found) throw new Error(`latency goal names an unknown target: ${goal.label}`);
  const verdict = found.medianP99Ms < goal.maxP99Ms ? 'goal met' : 'goal MISSED';
  return `- **${goal.label} p99 = ${ms(found.medianP99Ms)} ms** (median of the rounds) — goal < ${goal.maxP99Ms} ms: ${verdict}`;
}

/** A run whose rounds were disturbed says so next to its verdict, instead of passing for a measurement. */
export function disturbedNote(summaries: readonly TargetSummary[]): string[] {
  const count = summaries.reduce((n, s) => n + s.rounds.filter((r) => r.disturbed).length, 0);
  if (count === 0) return [];
  return [
    `- ${DISTURBED} ${count} round(s) stayed disturbed by other processes after every retry: these figures are NOT reliable; run again on a quiet machine.`,
  ];
}

/** Title, date, code, machine, command and method: the part every section shares. */
export function sectionHead(head: SectionHead): string[] {
  const m = head.machine;
  return [
    `## ${head.name} — ${head.title}`,
    '',
    `- Date: ${m.date}`,
    `- Code: ${m.revision}`,
    `- Machine: ${m.cpus} vCPU (nproc), ${m.memory} RAM (free -h total), ${m.cpuModel}, Node ${m.node}; load average at start ${m.loadAverage}`,
    `- Command: \`${head.command}\``,
    `- Method: ${head.method}`,
  ];
}

export function section(input: SectionInput): string {
  return [
    ...sectionHead(input),
    '',
    table(input),
    '',
    ...input.ratios.map((r) => ratioLine(input.summaries, r)),
    ...(input.latencyGoals ?? []).map((g) => latencyLine(input.summaries, g)),
    ...disturbedNote(input.summaries),
    ...(input.notes ?? []),
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
Scenarios (the table in run.ts): \`health\` and \`project-read\` (default); one-off: \`tracing\`,
\`rate-limit\`, \`startup\` (BENCH_STARTUP_RUNS, default 5), \`sse-fanout\` (BENCH_SSE_CLIENTS, default
1000,5000,10000; BENCH_SSE_RATE, default 10/s; BENCH_SSE_SECONDS, default 20), \`event-publish\` (BENCH_BASE_DIR,
a checkout of the commit to compare with; BENCH_EVENT_CONNECTIONS, default 16; BENCH_EVENT_LATENCY_EVENTS,
default 200). The sections \`helmet\`, \`anatomy\` and \`repo-read\` below record one-off comparisons whose
scenarios were removed once decided.

Targets: the full request chain serves ≥ 70 % of the throughput of a bare \`node:http\` server
(\`health\`); the authenticated project read ≥ 25 % of health/live with p99 < 20 ms (\`project-read\`);
tracing every request ≥ 50 % of off, 10 % sampling ≥ 75 %, a dead collector no worse than a live one
(\`tracing\`); rate limits on ≥ 90 % of off (\`rate-limit\`); SSE p99 < 100 ms at 1,000 clients,
< 30 KB per idle connection, Redis connections independent of N (\`sse-fanout\`).

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

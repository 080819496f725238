import type { DeliveryAudit } from './delivery-audit.js';
import { type FaultTally, percentile } from './fault-tally.js';
import type { ServerExit } from './supervised-server.js';

export interface FaultRunFacts {
  readonly tally: FaultTally;
  readonly audit: DeliveryAudit;
  readonly exits: readonly ServerExit[];
  readonly pids: readonly number[];
  readonly unfinishedFollowers: number;
  /** One line per fault action: what was done and what was measured. */
  readonly actions: readonly string[];
}

const pad = (v: unknown, n: number) => String(v).padStart(n);

/** The first line of a crash that names an error, for the report. */
function crashLine(exit: ServerExit): string {
  const line = exit.tail.split('\n').find((l) => /Error|error|uncaught|fatal/.test(l)) ?? exit.tail.split('\n').at(-2) ?? '';
  return line.trim().slice(0, 240);
}

/** The per-phase counts, printed by the suite whatever its outcome. */
export function formatFaultReport(f: FaultRunFacts): string {
  const lines: string[] = [];
  lines.push('fault suite: counts per phase (a request is charged to the phase it started in)');
  lines.push(
    `${'phase'.padEnd(20)} ${pad('requests', 8)} ${pad('ok', 6)} ${pad('503 pg', 6)} ${pad('503 rd', 6)} ${pad('409/429', 7)} ${pad('OUTSIDE', 7)} ${pad('drops', 5)} ${pad('acked', 5)} ${pad('UNDELIV', 7)} ${pad('EXITS', 5)} ${pad('p50 ms', 6)} ${pad('p99 ms', 6)}`,
  );
  for (const p of f.tally.phases) {
    const acked = f.audit.ackedByPhase[p.name] ?? 0;
    const undelivered = f.audit.undelivered.filter((u) => u.phase === p.name).length;
    const exits = f.exits.filter((e) => f.tally.phaseAt(e.atMs) === p.name).length;
    const other = Object.values(p.otherErrors).reduce((a, b) => a + b, 0);
    lines.push(
      `${p.name.padEnd(20)} ${pad(p.requests, 8)} ${pad(p.successes, 6)} ${pad(p.unavailable.postgres ?? 0, 6)} ${pad(p.unavailable.redis ?? 0, 6)} ${pad(other, 7)} ${pad(p.outside, 7)} ${pad(p.streamDrops, 5)} ${pad(acked, 5)} ${pad(undelivered, 7)} ${pad(exits, 5)} ${pad(Math.round(percentile(p.durationsMs, 50)), 6)} ${pad(Math.round(percentile(p.durationsMs, 99)), 6)}`,
    );
  }
  for (const a of f.actions) lines.push(`  fault: ${a}`);
  const reasons = new Map<string, number>();
  for (const o of f.tally.outside) {
    const key = `${o.phase} / ${o.route} / ${o.reason}`;
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }
  lines.push(`(1) responses outside the contract: ${f.tally.outside.length}`);
  for (const [key, n] of reasons) lines.push(`      ${n} × ${key}`);
  const a = f.audit;
  lines.push(
    `(2) acknowledged events not delivered to a resuming client: ${a.undelivered.length} (of ${a.acked} acknowledged in ${a.operations} operations); ` +
      `duplicates ${a.duplicates}, out of order ${a.outOfOrder}; followers that never saw their terminal event ${f.unfinishedFollowers}`,
  );
  lines.push(
    `      also seen: refused (contract error) yet delivered ${a.refusedButDelivered}, in doubt and delivered ${a.inDoubtDelivered}, ` +
      `reset notices ${a.resets}, ids going backwards in 202 answers ${a.ackedIdRegressions} and in streams ${a.deliveredIdRegressions}`,
  );
  lines.push(`(3) server process exits: ${f.exits.length} (pids ${f.pids.join(', ')})`);
  for (const e of f.exits) lines.push(`      in ${f.tally.phaseAt(e.atMs)}: code ${e.code} signal ${e.signal}: ${crashLine(e)}`);
  return lines.join('\n');
}

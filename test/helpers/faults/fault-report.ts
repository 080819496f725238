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
  /** The server's log (JSON lines), to show what it said about a response outside the contract. */
  readonly serverLog: string;
  /** performance.now() when the last phase ended. */
  readonly endedMs: number;
}

/** The server's own account of a request (its logged error), found by correlation id. */
function loggedError(log: string, correlationId: string): string | undefined {
  const needle = `"correlation_id":"${correlationId}"`;
  const line = log.split('\n').find((l) => l.includes(needle) && l.includes('"err"'));
  if (!line) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: string; err?: { type?: string; code?: string; message?: string } };
    return `${entry.msg ?? ''}: ${entry.err?.type ?? ''} ${entry.err?.code ?? ''} ${entry.err?.message ?? ''}`.slice(0, 300);
  } catch {
    return line.slice(0, 300);
  }
}

const pad = (v: unknown, n: number) => String(v).padStart(n);

/** Why a process exited, from its log: the fatal line when there is one, else its first logged error. */
function crashLine(exit: ServerExit): string {
  const lines = exit.tail.split('\n');
  const errors: string[] = [];
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: { type?: string; message?: string; code?: string } };
      if (!entry.err) continue;
      const text = `${entry.msg ?? ''}: ${entry.err.type ?? ''} ${entry.err.code ?? ''} ${entry.err.message ?? ''}`.slice(0, 300);
      if (/fatal|uncaught/i.test(entry.msg ?? '')) return text;
      errors.push(text);
    } catch {
      // not a log line
    }
  }
  return errors[0] ?? (lines.filter((l) => l.trim() !== '').at(-1) ?? '').slice(0, 300);
}

/** The per-phase counts, printed by the suite whatever its outcome. */
export function formatFaultReport(f: FaultRunFacts): string {
  const lines: string[] = [];
  lines.push('fault suite: counts per phase (a request is charged to the phase its answer came in)');
  lines.push(
    `${'phase'.padEnd(20)} ${pad('requests', 8)} ${pad('ok', 6)} ${pad('503 pg', 6)} ${pad('503 rd', 6)} ${pad('409/429', 7)} ${pad('OUTSIDE', 7)} ${pad('drops', 5)} ${pad('acked', 5)} ${pad('UNDELIV', 7)} ${pad('EXITS', 5)} ${pad('p50 ms', 6)} ${pad('p99 ms', 6)} ${pad('secs', 5)}`,
  );
  const ends = [...f.tally.phases.slice(1).map((p) => p.startedMs), f.endedMs];
  for (const [i, p] of f.tally.phases.entries()) {
    const secs = (((ends[i] ?? p.startedMs) - p.startedMs) / 1000).toFixed(1);
    const acked = f.audit.ackedByPhase[p.name] ?? 0;
    const undelivered = f.audit.undelivered.filter((u) => u.phase === p.name).length;
    const exits = f.exits.filter((e) => f.tally.phaseAt(e.atMs) === p.name).length;
    const other = Object.values(p.otherErrors).reduce((a, b) => a + b, 0);
    lines.push(
      `${p.name.padEnd(20)} ${pad(p.requests, 8)} ${pad(p.successes, 6)} ${pad(p.unavailable.postgres ?? 0, 6)} ${pad(p.unavailable.redis ?? 0, 6)} ${pad(other, 7)} ${pad(p.outside, 7)} ${pad(p.streamDrops, 5)} ${pad(acked, 5)} ${pad(undelivered, 7)} ${pad(exits, 5)} ${pad(Math.round(percentile(p.durationsMs, 50)), 6)} ${pad(Math.round(percentile(p.durationsMs, 99)), 6)} ${pad(secs, 5)}`,
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
  // Answers with a status (not transport failures): what the server logged for them.
  for (const o of f.tally.outside.filter((x) => x.reason.startsWith('status ')).slice(0, 5)) {
    lines.push(`      ${o.correlationId} (${o.reason}) logged as: ${loggedError(f.serverLog, o.correlationId) ?? 'nothing'}`);
  }
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

import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { type CpuUse, cpuUse, sampleCpu } from './cpu.js';
import { waitForQuiet } from './quiet.js';
import { median } from './stats.js';

/** What one load round sends; a target's `prepare` step may override parts of it (e.g. a bearer token). */
export interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Every response body must equal this, so both servers provably do the same work. */
  readonly expectBody?: string;
  /** A header given a new random value on every request (an Idempotency-Key that must not replay). */
  readonly uniqueHeader?: string;
}

export interface LoadSettings {
  readonly connections: number;
  readonly durationSeconds: number;
}

export interface RoundResult {
  readonly reqPerSec: number;
  /**
   * Requests sent during the round (autocannon's requests.sent): the answered ones and the
   * few still in flight when the round stopped, which the server completes all the same.
   */
  readonly served: number;
  readonly p99Ms: number;
  /** CPU use during the round (see cpu.ts); undefined off Linux. */
  readonly cpu?: CpuUse | undefined;
  /** Other processes used more CPU than allowed even on the last retry: reported, flagged. */
  readonly disturbed?: boolean;
}

function withUniqueHeader(name: string) {
  return (request: { headers?: Record<string, string> }) => ({ ...request, headers: { ...request.headers, [name]: randomUUID() } });
}

/**
 * One autocannon run against a server. A round with errors, non-2xx answers or body
 * mismatches is refused rather than reported: the req/s of failing requests means nothing.
 */
export async function loadRound(baseUrl: string, spec: RequestSpec, settings: LoadSettings): Promise<RoundResult> {
  const result = await autocannon({
    url: `${baseUrl}${spec.path}`,
    method: spec.method,
    headers: { ...spec.headers },
    ...(spec.body !== undefined ? { body: spec.body } : {}),
    ...(spec.expectBody !== undefined ? { expectBody: spec.expectBody } : {}),
    ...(spec.uniqueHeader !== undefined ? { requests: [{ setupRequest: withUniqueHeader(spec.uniqueHeader) }] } : {}),
    connections: settings.connections,
    duration: settings.durationSeconds,
  });
  const bad = { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, mismatches: result.mismatches };
  if (Object.values(bad).some((n) => n > 0)) {
    throw new Error(`round against ${result.url} had failures: ${JSON.stringify(bad)}`);
  }
  // requests.average is the mean of autocannon's per-second samples over the round.
  return { reqPerSec: result.requests.average, p99Ms: result.latency.p99, served: result.requests.sent };
}

/** A round, with who used the CPU meanwhile. */
async function observedRound(target: LoadTarget, settings: LoadSettings): Promise<RoundResult> {
  const pids = [...(target.pid === undefined ? [] : [target.pid]), ...(target.companionPids ?? [])];
  const before = sampleCpu(pids);
  const result = await loadRound(target.baseUrl, target.spec, settings);
  return { ...result, cpu: cpuUse(before, sampleCpu(pids)) };
}

export interface TargetRounds {
  readonly label: string;
  readonly rounds: readonly RoundResult[];
}

export interface TargetSummary extends TargetRounds {
  readonly medianReqPerSec: number;
  readonly medianP99Ms: number;
  /**
   * Every request the target answered under load: warm-up, rounds, and rounds redone — what
   * per-request counts taken outside the server (spans received, Redis commands) divide by.
   */
  readonly served: number;
}

export interface LoadTarget {
  readonly label: string;
  readonly baseUrl: string;
  /** The server process, for its CPU use. */
  readonly pid?: number | undefined;
  /** Processes serving this target alone (its own redis-server): their CPU counts as the server's. */
  readonly companionPids?: readonly number[];
  readonly spec: RequestSpec;
}

export interface RoundPlan extends LoadSettings {
  readonly warmupSeconds: number;
  readonly rounds: number;
  /** A round during which other processes used more CPU than this (% of one CPU) is redone… */
  readonly maxForeignCpu: number;
  /** …at most this many times; the last attempt is then kept as it is. */
  readonly retries: number;
  /** Before each round, wait up to this long for the machine to be quiet (see quiet.ts). */
  readonly quietWaitMs: number;
  readonly onProgress?: (line: string) => void;
}

/**
 * Warm every target up (JIT, connection pools, lazy init), then run the rounds
 * interleaved — A, B, A, B… — so slow drift of the machine (other tenants, thermal,
 * GC of the load generator) spreads over all targets instead of favouring one.
 */
export async function alternateRounds(targets: readonly LoadTarget[], plan: RoundPlan): Promise<TargetSummary[]> {
  const log = plan.onProgress ?? (() => undefined);
  const served = new Map<string, number>(targets.map((t) => [t.label, 0]));
  const count = (label: string, n: number) => served.set(label, (served.get(label) ?? 0) + n);
  for (const target of targets) {
    if (plan.warmupSeconds <= 0) break;
    log(`warm-up ${target.label} (${plan.warmupSeconds} s)`);
    const warm = await loadRound(target.baseUrl, target.spec, { connections: plan.connections, durationSeconds: plan.warmupSeconds });
    count(target.label, warm.served);
  }
  const results = new Map<string, RoundResult[]>(targets.map((t) => [t.label, []]));
  for (let round = 1; round <= plan.rounds; round++) {
    for (const target of targets) {
      await waitForQuiet(plan.maxForeignCpu, plan.quietWaitMs, log);
      let r = await observedRound(target, plan);
      count(target.label, r.served);
      for (let retry = 1; retry <= plan.retries && (r.cpu?.others ?? 0) > plan.maxForeignCpu; retry++) {
        log(`round ${round}/${plan.rounds} ${target.label} disturbed (others used ${Math.round(r.cpu?.others ?? 0)} % CPU): redoing it`);
        await waitForQuiet(plan.maxForeignCpu, plan.quietWaitMs, log);
        r = await observedRound(target, plan);
        count(target.label, r.served);
      }
      if ((r.cpu?.others ?? 0) > plan.maxForeignCpu) r = { ...r, disturbed: true };
      results.get(target.label)?.push(r);
      const cpu = r.cpu
        ? `; CPU % autocannon ${Math.round(r.cpu.generator)}, server ${Math.round(r.cpu.server)} (Node ${Math.round(r.cpu.serverProcess)}), others ${Math.round(r.cpu.others)}`
        : '';
      log(`round ${round}/${plan.rounds} ${target.label}: ${Math.round(r.reqPerSec)} req/s, p99 ${r.p99Ms} ms${cpu}`);
    }
  }
  return targets.map(({ label }) => {
    const rounds = results.get(label) ?? [];
    return {
      label,
      rounds,
      medianReqPerSec: median(rounds.map((r) => r.reqPerSec)),
      medianP99Ms: median(rounds.map((r) => r.p99Ms)),
      served: served.get(label) ?? 0,
    };
  });
}

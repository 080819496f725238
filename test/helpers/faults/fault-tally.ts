import type { Outcome } from './contract-check.js';

export interface PhaseStats {
  readonly name: string;
  /** performance.now() when the phase began. */
  readonly startedMs: number;
  requests: number;
  successes: number;
  /** 503s by the dependency `details.service` names. */
  readonly unavailable: Record<string, number>;
  /** Other contract errors (409, 429) by status. */
  readonly otherErrors: Record<number, number>;
  outside: number;
  /** Stream connections dropped (allowed: the follower resumes). */
  streamDrops: number;
  readonly durationsMs: number[];
}

export interface OutsideResponse {
  readonly phase: string;
  readonly route: string;
  readonly reason: string;
  readonly correlationId: string;
}

/**
 * Counts every response of the run by the phase in which it came back: a request sent just
 * before a fault and broken by it is the fault's.
 */
export class FaultTally {
  readonly phases: PhaseStats[] = [];
  readonly outside: OutsideResponse[] = [];
  private currentPhase: PhaseStats;

  constructor(first: string) {
    this.currentPhase = this.begin(first);
  }

  get phase(): PhaseStats {
    return this.currentPhase;
  }

  begin(name: string): PhaseStats {
    const phase: PhaseStats = {
      name,
      startedMs: performance.now(),
      requests: 0,
      successes: 0,
      unavailable: {},
      otherErrors: {},
      outside: 0,
      streamDrops: 0,
      durationsMs: [],
    };
    this.phases.push(phase);
    this.currentPhase = phase;
    return phase;
  }

  record(route: string, correlationId: string, outcome: Outcome, durationMs: number): void {
    const phase = this.currentPhase;
    phase.requests++;
    phase.durationsMs.push(durationMs);
    if (outcome.kind === 'success') phase.successes++;
    else if (outcome.kind === 'contract_error' && outcome.status === 503) {
      const service = outcome.service ?? '?';
      phase.unavailable[service] = (phase.unavailable[service] ?? 0) + 1;
    } else if (outcome.kind === 'contract_error') phase.otherErrors[outcome.status] = (phase.otherErrors[outcome.status] ?? 0) + 1;
    else {
      phase.outside++;
      this.outside.push({ phase: phase.name, route, reason: outcome.reason, correlationId });
    }
  }

  /** The phase that was current at `atMs` (performance.now()). */
  phaseAt(atMs: number): string {
    return this.phases.findLast((p) => p.startedMs <= atMs)?.name ?? this.phases[0]?.name ?? '?';
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

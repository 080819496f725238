/**
 * Each infrastructure plugin registers the check of its dependency here; the health routes
 * run them all concurrently, each bounded by a timeout, so a hung dependency still
 * answers within ~1 s (REQ-005, docs/contract.md §5 Health).
 */

export type ComponentName = 'postgres' | 'redis' | 'qdrant' | 'event_bus' | 'telemetry';
export type ComponentStatus = 'healthy' | 'degraded' | 'unhealthy' | 'disabled';

export interface CheckOutcome {
  readonly status: ComponentStatus;
  readonly details?: Record<string, unknown> | null;
  readonly error?: string | null;
}

export interface ComponentReport {
  readonly name: ComponentName;
  readonly status: ComponentStatus;
  readonly response_time_ms: number;
  readonly error: string | null;
  readonly details: Record<string, unknown> | null;
}

export interface HealthCheck {
  readonly name: ComponentName;
  /** Only required components make readiness fail; `degraded` never does. */
  readonly required: boolean;
  readonly run: (signal: AbortSignal) => Promise<CheckOutcome>;
}

class CheckTimeout extends Error {}

export class HealthRegistry {
  private readonly checks = new Map<ComponentName, HealthCheck>();
  private running: Promise<ComponentReport[]> | null = null;
  private last: { readonly at: number; readonly reports: ComponentReport[] } | null = null;

  /**
   * @param cacheMs how long one round of checks answers every caller. The health routes are
   *   public and never rate limited, so without it each call would cost a query, a PING and a
   *   Qdrant request (docs/adr/0011-rate-limit-sliding-log.md).
   */
  constructor(
    private readonly timeoutMs: number,
    private readonly cacheMs = 1_000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  register(check: HealthCheck): void {
    this.checks.set(check.name, check);
    this.last = null;
  }

  /** Every check, at most one round at a time (callers during a round share it), cached for `cacheMs`. */
  async runAll(): Promise<ComponentReport[]> {
    if (this.last !== null && this.clock() - this.last.at < this.cacheMs) return this.last.reports;
    this.running ??= Promise.all([...this.checks.values()].map((check) => this.runOne(check)))
      .then((reports) => {
        this.last = { at: this.clock(), reports };
        return reports;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  isReady(reports: ComponentReport[]): boolean {
    return reports.every((r) => r.status !== 'unhealthy' || !this.checks.get(r.name)?.required);
  }

  private async runOne(check: HealthCheck): Promise<ComponentReport> {
    const started = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new CheckTimeout(`check timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      const outcome = await Promise.race([check.run(controller.signal), timeout]);
      return {
        name: check.name,
        status: outcome.status,
        response_time_ms: elapsed(started),
        error: outcome.error ?? null,
        details: outcome.details ?? null,
      };
    } catch (error) {
      return {
        name: check.name,
        status: 'unhealthy',
        response_time_ms: elapsed(started),
        error: error instanceof Error ? error.message || error.constructor.name : 'check failed',
        details: null,
      };
    } finally {
      clearTimeout(timer);
    }
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/**
 * Each infrastructure plugin registers the check of its dependency here; the health routes
 * run them all concurrently, each bounded by a timeout, so a hung dependency still
 * answers within ~1 s (REQ-005, CONTRACT §5 Health).
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

  constructor(private readonly timeoutMs: number) {}

  register(check: HealthCheck): void {
    this.checks.set(check.name, check);
  }

  async runAll(): Promise<ComponentReport[]> {
    return Promise.all([...this.checks.values()].map((check) => this.runOne(check)));
  }

  isReady(reports: readonly ComponentReport[]): boolean {
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

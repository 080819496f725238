import type { SupervisedServer } from '../../test/helpers/faults/supervised-server.js';
import { rssKiB } from '../../test/helpers/multi-instance.js';

export interface RssSummary {
  readonly port: number;
  /** Median of the first minute's samples (after warm-up), MiB. */
  readonly startMiB: number;
  /** Median of the last minute's samples, MiB. */
  readonly endMiB: number;
  readonly maxMiB: number;
  readonly samples: number;
}

const WINDOW_MS = 60_000;
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.floor(sorted.length / 2)] ?? 0);
};

/** Samples every instance's VmRSS every `everyMs` (of whatever process the supervisor runs now). */
export class RssSampler {
  private readonly series: Array<Array<{ at: number; kib: number }>>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly instances: readonly SupervisedServer[],
    everyMs = 5_000,
  ) {
    this.series = instances.map(() => []);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const at = performance.now();
    for (const [i, instance] of this.instances.entries()) {
      const kib = rssKiB(instance.pid);
      if (kib !== null) this.series[i]?.push({ at, kib });
    }
  }

  stop(): RssSummary[] {
    clearInterval(this.timer);
    this.sample();
    return this.instances.map((instance, i) => {
      const s = this.series[i] ?? [];
      const first = s[0]?.at ?? 0;
      const last = s.at(-1)?.at ?? 0;
      const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
      return {
        port: instance.port,
        startMiB: mib(median(s.filter((x) => x.at - first <= WINDOW_MS).map((x) => x.kib))),
        endMiB: mib(median(s.filter((x) => last - x.at <= WINDOW_MS).map((x) => x.kib))),
        maxMiB: mib(Math.max(0, ...s.map((x) => x.kib))),
        samples: s.length,
      };
    });
  }
}

import {
  checkAll,
  type GcraParams,
  gcraRefund,
  gcraTake,
  type LimitCheck,
  type LimitDecision,
  type LimitStore,
  type TakeResult,
} from './gcra.js';

/** Single-instance store (development, tests without Redis): the same GCRA, TATs in a Map. */
export class InMemoryLimitStore implements LimitStore {
  private readonly tats = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  /** `clock` in milliseconds (Date.now by default). */
  constructor(private readonly clock: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  check(checks: readonly LimitCheck[], windowMs: number): Promise<LimitDecision> {
    return checkAll(this, checks, windowMs);
  }

  async take(key: string, p: GcraParams): Promise<TakeResult> {
    const result = gcraTake(this.tats.get(key) ?? null, this.nowUs(), p);
    if (result.allowed) this.tats.set(key, result.tatUs);
    return result;
  }

  async refund(key: string, p: GcraParams): Promise<void> {
    const back = gcraRefund(this.tats.get(key) ?? null, this.nowUs(), p);
    if (back === null) this.tats.delete(key);
    else this.tats.set(key, back);
  }

  /** A key whose TAT has passed holds nothing (a full quota), like an expired Redis key. */
  private sweep(): void {
    const now = this.nowUs();
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key);
  }

  private nowUs(): number {
    return Math.round(this.clock() * 1000);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

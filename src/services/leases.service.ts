import type { Kysely } from 'kysely';
import { serviceScope } from '../access/project-scope.js';
import type { TokenService } from '../auth/tokens.js';
import type { Database, Operation } from '../db/types.js';
import { ConflictError, ForbiddenError, NotFoundError } from '../lib/errors.js';
import { LeasesRepository } from '../repositories/leases.repository.js';
import type { EventBus, OperationEvent } from '../streaming/events.js';
import type { OperationsService } from './operations.service.js';
import { RECHECK_MS, WakeUps } from './worker-wake.js';

export interface LeaseGranted {
  readonly lease: { readonly id: string; readonly expiresAt: Date; readonly attempt: number };
  readonly operation: Operation;
  readonly project: { readonly id: string; readonly language: string };
  /** The operation token (docs/contract.md §8). */
  readonly token: string;
}

export interface LeaseRequest {
  readonly worker: string;
  readonly kinds: readonly string[];
  readonly waitSeconds: number;
  readonly leaseSeconds: number;
}

export interface LeasesServiceOptions {
  /** How often this instance looks for expired leases (ms). */
  readonly sweepIntervalMs?: number;
}

/**
 * Workers take operations by leasing them (docs/contract.md §8, docs/adr/0020): long polls woken
 * through the bus, heartbeats, and the lease-expiry sweep every instance runs (each expired lease
 * handled once: OperationsService.expireLeases).
 */
export class LeasesService {
  private readonly wakeUps: WakeUps;
  private readonly leases: LeasesRepository;
  private sweeper: NodeJS.Timeout | undefined;
  /** Aborted when the app starts closing: waiting polls answer 204 at once instead of holding the shutdown. */
  private readonly closing = new AbortController();
  private sweeping: Promise<unknown> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly operations: OperationsService,
    private readonly tokens: TokenService,
    bus: EventBus,
    private readonly options: LeasesServiceOptions = {},
  ) {
    this.wakeUps = new WakeUps(bus);
    this.leases = new LeasesRepository(db);
  }

  /**
   * The oldest pending operation of the kinds, leased to this worker; or null when none appears
   * within `waitSeconds` (or the client left). A wake-up is armed before each look at the queue,
   * so an operation created between the look and the wait is not missed.
   */
  async lease(request: LeaseRequest, clientGone: AbortSignal): Promise<LeaseGranted | null> {
    const signal = AbortSignal.any([clientGone, this.closing.signal]);
    const deadline = Date.now() + request.waitSeconds * 1000;
    for (;;) {
      const remaining = signal.aborted ? 0 : deadline - Date.now();
      const wake = remaining > 0 ? await this.wakeUps.arm(request.kinds, Math.min(remaining, RECHECK_MS), signal) : undefined;
      const granted = await this.tryLease(request).catch((error: unknown) => {
        wake?.cancel();
        throw error;
      });
      if (granted || !wake || signal.aborted) {
        wake?.cancel();
        return granted;
      }
      await wake.wait();
      if (signal.aborted) return null;
    }
  }

  private async tryLease({ worker, kinds, leaseSeconds }: LeaseRequest): Promise<LeaseGranted | null> {
    const taken = await this.db.transaction().execute(async (tx) => {
      const leased = await new LeasesRepository(tx).take(worker, kinds, leaseSeconds);
      if (!leased) return undefined;
      const { operation } = leased;
      const started = await this.operations.appendOwn(
        tx,
        serviceScope(operation.projectId),
        operation.id,
        'operation.started',
        { attempt: operation.attempt, worker },
        'running',
      );
      return { leased, started };
    });
    if (!taken) return null;
    const { leased, started } = taken;
    const { operation } = leased;
    if (started) await this.operations.fanOut(operation.projectId, started as OperationEvent);
    const token = await this.tokens.issueOperation({
      userId: operation.createdBy,
      worker,
      leaseId: leased.leaseId,
      projectId: operation.projectId,
      operationId: operation.id,
    });
    return {
      lease: { id: leased.leaseId, expiresAt: operation.leaseExpiresAt as Date, attempt: operation.attempt },
      operation,
      project: { id: operation.projectId, language: leased.language },
      token,
    };
  }

  /** Extends the worker's lease (200), or: unknown 404, another worker's 403, no longer current 409. */
  async heartbeat(leaseId: string, worker: string): Promise<{ expiresAt: Date; cancelRequested: boolean }> {
    const result = await this.leases.heartbeat(leaseId, worker);
    switch (result.kind) {
      case 'extended':
        return { expiresAt: result.expiresAt, cancelRequested: result.cancelRequested };
      case 'unknown':
        throw new NotFoundError(`Lease ${leaseId} not found`);
      case 'other-worker':
        throw new ForbiddenError(`Lease ${leaseId} belongs to another worker`);
      case 'not-current':
        throw new ConflictError(`Lease ${leaseId} is no longer current: stop working on its operation`);
    }
  }

  /** Starts this instance's expiry sweep (every instance runs one; each lease is handled once). */
  startSweeper(onError: (error: unknown) => void): void {
    const interval = this.options.sweepIntervalMs ?? 1000;
    const tick = () => {
      if (this.sweeping) return;
      this.sweeping = this.operations
        .expireLeases()
        .catch(onError)
        .finally(() => {
          this.sweeping = undefined;
        });
    };
    this.sweeper = setInterval(tick, interval);
    this.sweeper.unref();
  }

  /** Ends the waiting polls (204) so they do not hold a graceful shutdown; new polls answer at once. */
  stopPolls(): void {
    this.closing.abort();
  }

  async close(): Promise<void> {
    this.stopPolls();
    clearInterval(this.sweeper);
    await this.sweeping;
    await this.wakeUps.close();
  }
}

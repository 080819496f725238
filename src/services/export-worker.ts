import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { ConflictError } from '../lib/errors.js';
import { EXPORT_KIND, type ExportsService } from './exports.service.js';
import type { LeaseGranted, LeasesService } from './leases.service.js';

export interface ExportWorkerOptions {
  /** The lease each export is taken with (WORKER_LEASE_SECONDS): a crashed instance's export is retried after it. */
  readonly leaseSeconds: number;
  readonly log: FastifyBaseLogger;
}

/** How long one lease request waits for work (the long poll of docs/contract.md §8). */
const WAIT_SECONDS = 20;

/**
 * The service's own worker for `export` operations (docs/contract.md §11, docs/adr/0023). It takes
 * work through the same leases as external workers (LeasesService, called in-process), so every
 * instance runs one, each export is built by one instance at a time, and an instance that dies
 * mid-build leaves a lease that expires and is taken by another. It heartbeats while it builds;
 * a heartbeat refused (the lease was lost) or a cancel request stops the build.
 */
export class ExportWorker {
  readonly name = `api:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`.slice(0, 100);
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private building: Promise<void> | undefined;

  constructor(
    private readonly leases: LeasesService,
    private readonly exports: ExportsService,
    private readonly options: ExportWorkerOptions,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  /**
   * Stops taking work; a build in progress is abandoned (its lease expires and another instance
   * retries it). Waits for that build to notice, not for a lease request: one blocked on an
   * unreachable event bus ends with the bus, which closes after this.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.building;
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const granted = await this.leases.lease(
          { worker: this.name, kinds: [EXPORT_KIND], waitSeconds: WAIT_SECONDS, leaseSeconds: this.options.leaseSeconds },
          signal,
        );
        failures = 0;
        if (granted) {
          this.building = this.run(granted);
          await this.building;
          this.building = undefined;
        }
      } catch (error) {
        if (signal.aborted) return;
        // The event bus or the database is down: back off (1 s, doubling, at most 30 s), one warning per failure.
        failures++;
        this.options.log.warn({ err: error, failures }, 'export worker: lease request failed');
        await sleep(Math.min(30_000, 1000 * 2 ** (failures - 1)), undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private async run(granted: LeaseGranted): Promise<void> {
    const build = new AbortController();
    let cancelRequested = false;
    const onStop = () => build.abort();
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    const heartbeat = setInterval(
      () => {
        this.leases.heartbeat(granted.lease.id, this.name).then(
          (beat) => {
            if (!beat.cancelRequested) return;
            cancelRequested = true;
            build.abort();
          },
          (error: unknown) => {
            if (error instanceof ConflictError) build.abort();
          },
        );
      },
      (this.options.leaseSeconds * 1000) / 3,
    );
    const fields = { operation_id: granted.operation.id, project_id: granted.operation.projectId, attempt: granted.lease.attempt };
    try {
      await this.exports.build(granted, this.name, build.signal);
      this.options.log.info(fields, 'export built');
    } catch (error) {
      if (cancelRequested) {
        this.options.log.info(fields, 'export build cancelled');
        await this.exports.fail(granted, this.name, 'cancelled', 'cancelled');
      } else if (build.signal.aborted) {
        this.options.log.info(fields, 'export build stopped (shutdown or lost lease)');
      } else if (error instanceof ConflictError) {
        this.options.log.info(fields, 'export build stopped: the lease is no longer current');
      } else {
        this.options.log.error({ ...fields, err: error }, 'export build failed');
        await this.exports.fail(granted, this.name, 'archive_failed');
      }
    } finally {
      clearInterval(heartbeat);
      this.stopping.signal.removeEventListener('abort', onStop);
    }
  }
}

import { createJeexClient, type JeexClient, type Operation } from './index.js';

/*
 * The worker SDK (docs/contract.md §8, docs/adr/0020): an agent in TypeScript takes operations of
 * some kinds and runs a handler for each; the SDK leases (long poll), heartbeats in the
 * background, hands the handler the operation token (and a typed client that uses it), numbers
 * the handler's events with `seq` so a retried publish is stored once, turns a cancel into an
 * aborted signal, and stops cleanly on SIGTERM (it finishes the operation in hand, takes no new
 * one). Example: scripts/example-worker.ts (`npm run worker:example`).
 *
 *   await runWorker({
 *     baseUrl: 'http://127.0.0.1:5210', token: process.env.JEEX_WORKER_TOKEN!, kinds: ['draft.document'],
 *     handler: async (job) => { await job.publish('progress', { percent: 50 }); return { data: { ok: true } }; },
 *   });
 */

export type EventStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface WorkerJob {
  readonly operation: Operation;
  readonly project: { readonly id: string; readonly language: string };
  readonly lease: { readonly id: string; readonly attempt: number };
  /** The operation token: acts for the operation's creator through this worker, while the lease is current. */
  readonly token: string;
  /** A typed client that sends the operation token. */
  readonly api: JeexClient;
  /** Aborted when the user cancelled (`reason` 'cancelled') or the lease was lost ('lease_lost'). */
  readonly signal: AbortSignal;
  /** Publishes an event (numbered with `seq`; retried safely on network errors, 429 and 503). */
  publish(type: string, data?: unknown, status?: EventStatus): Promise<void>;
}

/** What a handler returns: the final event (default `{type: 'result', status: 'completed'}`). */
export interface JobResult {
  readonly type?: string;
  readonly data?: unknown;
  readonly status?: 'completed' | 'failed';
}

export interface RunWorkerOptions {
  /** Where the API is served, without `/api/v1`. */
  readonly baseUrl: string;
  /** The worker credential (`npm run token -- --worker <name>`). */
  readonly token: string;
  readonly kinds: readonly string[];
  readonly handler: (job: WorkerJob) => Promise<JobResult | undefined>;
  /** Long poll length (0–20 s, default 20). */
  readonly waitSeconds?: number;
  /** Lease length (10–300 s, default the server's WORKER_LEASE_SECONDS). */
  readonly leaseSeconds?: number;
  /** Stops the worker (like SIGTERM): no new lease; the operation in hand is finished. */
  readonly signal?: AbortSignal;
  /** Stop on SIGTERM and SIGINT (default true). */
  readonly handleSignals?: boolean;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** A publish the server refused with 409: the lease is no longer current; stop working. */
export class LeaseLostError extends Error {
  constructor(leaseId: string) {
    super(`lease ${leaseId} is no longer current`);
    this.name = 'LeaseLostError';
  }
}

interface LeaseBody {
  lease: { id: string; expires_at: string; attempt: number };
  operation: Operation;
  project: { id: string; language: string };
  token: string;
}

/**
 * Each attempt numbers its events in its own range, so an event of attempt 2 never reuses a
 * `seq` attempt 1 already stored (that would be answered as a duplicate and not delivered).
 */
const SEQ_PER_ATTEMPT = 1_000_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** Leases and runs operations until stopped; resolves once stopped with nothing in hand. */
export async function runWorker(options: RunWorkerOptions): Promise<void> {
  const log = options.log ?? (() => undefined);
  const stop = new AbortController();
  options.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const onSignal = () => {
    log('stopping: finishing the operation in hand, taking no new one');
    stop.abort();
  };
  if (options.handleSignals !== false) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  const workerHeaders = { 'content-type': 'application/json', authorization: `Bearer ${options.token}` };
  let failures = 0;
  try {
    while (!stop.signal.aborted) {
      let res: Response;
      try {
        res = await fetch(`${options.baseUrl}/api/v1/worker/leases`, {
          method: 'POST',
          headers: workerHeaders,
          body: JSON.stringify({
            kinds: options.kinds,
            wait_seconds: options.waitSeconds ?? 20,
            ...(options.leaseSeconds !== undefined ? { lease_seconds: options.leaseSeconds } : {}),
          }),
          signal: stop.signal,
        });
      } catch (error) {
        if (stop.signal.aborted) break;
        failures += 1;
        log('lease request failed', { error: String(error) });
        await sleep(Math.min(200 * 2 ** failures, 5000), stop.signal);
        continue;
      }
      if (res.status === 204) {
        failures = 0;
        continue;
      }
      if (res.status !== 201) {
        const text = await res.text();
        if (res.status === 401 || res.status === 403 || res.status === 422) throw new Error(`lease refused: ${res.status} ${text}`);
        failures += 1;
        await sleep(Math.min(200 * 2 ** failures, 5000), stop.signal);
        continue;
      }
      failures = 0;
      await runJob(options, (await res.json()) as LeaseBody, workerHeaders, log);
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

async function runJob(
  options: RunWorkerOptions,
  leased: LeaseBody,
  workerHeaders: Record<string, string>,
  log: NonNullable<RunWorkerOptions['log']>,
): Promise<void> {
  const { lease, operation, project, token } = leased;
  const jobControl = new AbortController();
  let seq = (lease.attempt - 1) * SEQ_PER_ATTEMPT;
  const eventsUrl = `${options.baseUrl}/api/v1/projects/${project.id}/operations/${operation.id}/events`;
  const opHeaders = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  log('leased', { operation_id: operation.id, kind: operation.kind, attempt: lease.attempt });

  const publish = async (type: string, data?: unknown, status?: EventStatus): Promise<void> => {
    seq += 1;
    const body = JSON.stringify({ type, data: data ?? null, seq, ...(status ? { status } : {}) });
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      try {
        res = await fetch(eventsUrl, { method: 'POST', headers: opHeaders, body });
      } catch {
        res = undefined;
      }
      if (res && (res.status === 200 || res.status === 202)) return;
      if (res?.status === 409) {
        jobControl.abort('lease_lost');
        throw new LeaseLostError(lease.id);
      }
      const retriable = res === undefined || res.status === 429 || res.status === 503;
      if (!retriable || attempt >= 6) throw new Error(`publish ${type} failed: ${res?.status ?? 'network error'}`);
      await sleep(Math.min(100 * 2 ** attempt, 3000));
    }
  };

  // Heartbeats at a third of the lease: two may be lost before it expires.
  const leaseMs = Math.max(1000, Date.parse(lease.expires_at) - Date.now());
  const heartbeat = setInterval(
    async () => {
      try {
        const res = await fetch(`${options.baseUrl}/api/v1/worker/leases/${lease.id}/heartbeat`, {
          method: 'POST',
          headers: workerHeaders,
          body: '{}',
        });
        if (res.status === 200) {
          const { cancel_requested } = (await res.json()) as { cancel_requested: boolean };
          if (cancel_requested && !jobControl.signal.aborted) jobControl.abort('cancelled');
        } else if (res.status === 409 || res.status === 404 || res.status === 403) {
          if (!jobControl.signal.aborted) jobControl.abort('lease_lost');
        }
      } catch {
        // A lost heartbeat: the next one (or any event) extends the lease.
      }
    },
    Math.floor(leaseMs / 3),
  );

  const job: WorkerJob = {
    operation,
    project,
    lease: { id: lease.id, attempt: lease.attempt },
    token,
    api: createJeexClient({ baseUrl: options.baseUrl, token }),
    signal: jobControl.signal,
    publish,
  };
  try {
    let result: JobResult | undefined;
    let failure: unknown;
    try {
      result = await options.handler(job);
    } catch (error) {
      failure = error;
    }
    const reason = jobControl.signal.aborted ? jobControl.signal.reason : undefined;
    if (reason === 'lease_lost' || failure instanceof LeaseLostError) {
      log('lease lost: operation left to the service', { operation_id: operation.id });
      return;
    }
    if (reason === 'cancelled') {
      await publish('cancelled', { reason: 'cancel_requested' }, 'cancelled');
    } else if (failure !== undefined) {
      await publish('error', { error: failure instanceof Error ? failure.message : String(failure) }, 'failed');
    } else {
      await publish(result?.type ?? 'result', result?.data ?? null, result?.status ?? 'completed');
    }
    log('done', { operation_id: operation.id });
  } catch (error) {
    log('could not report the end of the operation', { operation_id: operation.id, error: String(error) });
  } finally {
    clearInterval(heartbeat);
  }
}

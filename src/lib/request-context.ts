import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';
import { parseTraceParent } from '@opentelemetry/core';

/**
 * What every log line written while serving a request must carry (OBS-001). Stored in
 * AsyncLocalStorage so code that has no `request` at hand — repositories, the database
 * query logger — still writes the request's correlation id.
 */
export interface RequestContext {
  readonly correlation_id: string;
  /**
   * The request's trace and span ids when no span is active (no telemetry preload), so log
   * lines join the caller's trace all the same (docs/contract.md §6). With tracing on, the logger
   * takes the active span's ids instead and these stay unset.
   */
  readonly trace_id?: string;
  readonly span_id?: string;
  project_id?: string;
  user_id?: string;
  /** The agent worker writing with an operation token on `user_id`'s behalf (docs/contract.md §8): the audit actor. */
  worker?: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

export function currentContext(): RequestContext | undefined {
  return requestContext.getStore();
}

/** Random bytes drawn in batches (as `randomUUID` does): one draw per request cost ~10 µs here. */
const ID_BYTES = 24;
const pool = Buffer.alloc(ID_BYTES * 256);
let offset = pool.length;

/**
 * A request's context, made once per request in one object of one shape (the fields set later —
 * user, project, worker — are there from the start, so setting them changes no object shape).
 * `untraced` (no active span): the ids of a request that no tracer follows — the trace of a valid
 * W3C `traceparent` (the caller's, continued) or a new one, and a new span id of our own (a child
 * of the caller's span, as a server span would be). An invalid header (all-zero ids, version ff,
 * junk) is ignored, never echoed into the logs. With a span active the logger takes its ids.
 */
export function newRequestContext(correlationId: string, traceparent: string | string[] | undefined, untraced: boolean): RequestContext {
  let traceId: string | undefined;
  let spanId: string | undefined;
  if (untraced) {
    if (offset === pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const at = offset;
    offset += ID_BYTES;
    const parent = typeof traceparent === 'string' ? parseTraceParent(traceparent) : null;
    traceId = parent?.traceId ?? pool.toString('hex', at, at + 16);
    spanId = pool.toString('hex', at + 16, at + ID_BYTES);
  }
  return {
    correlation_id: correlationId,
    trace_id: traceId,
    span_id: spanId,
    project_id: undefined,
    user_id: undefined,
    worker: undefined,
  };
}

/*
 * What counts as "inside the contract" for the fault suite (docs/contract.md §3, §4): a response is
 * either the route's success, or the §4 error body with a status a valid request may get
 * while dependencies come and go. Everything else — a 500, any other status, a body of
 * another shape, a missing or foreign X-Correlation-ID, a reset, hang-up, refusal or timeout
 * on a non-stream request — is outside.
 */

export type Outcome =
  | { readonly kind: 'success'; readonly body: unknown }
  | { readonly kind: 'contract_error'; readonly status: number; readonly service: string | null }
  | { readonly kind: 'outside'; readonly reason: string };

/** Errors a valid request may meet under faults: a dependency down, a rate limit, an in-doubt write replayed. */
export const ALLOWED_ERROR_STATUSES: ReadonlySet<number> = new Set([409, 429, 503]);

const ERROR_CODES: Readonly<Record<number, string>> = { 409: 'conflict', 429: 'rate_limited', 503: 'service_unavailable' };
const DEPENDENCIES: ReadonlySet<string> = new Set(['postgres', 'redis', 'qdrant']);
const ERROR_KEYS = ['correlation_id', 'details', 'error', 'message', 'status_code', 'timestamp'];

export interface RouteExpectation {
  /** The route's success status (201, 200, 202 …). */
  readonly success: number;
  /** Checks the success body is the route's (e.g. carries an id). */
  readonly shape: (body: Record<string, unknown>) => boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why `body` is not a §4 error body for `status` and `correlationId`, or null when it is one. */
export function errorBodyProblem(status: number, body: unknown, correlationId: string): string | null {
  if (!isRecord(body)) return 'error body is not a JSON object';
  const keys = Object.keys(body).sort();
  if (keys.join(',') !== ERROR_KEYS.join(',')) return `error body keys ${keys.join(',')}`;
  if (body.error !== ERROR_CODES[status]) return `error code ${String(body.error)} for ${status}`;
  if (typeof body.message !== 'string' || body.message.length === 0) return 'error message missing';
  if (body.status_code !== status) return `status_code ${String(body.status_code)} for ${status}`;
  if (body.correlation_id !== correlationId) return 'error body correlation_id is not the request’s';
  if (typeof body.timestamp !== 'string' || Number.isNaN(Date.parse(body.timestamp))) return 'error timestamp';
  if (body.details !== null && !isRecord(body.details)) return 'error details neither null nor object';
  if (status === 503) {
    const service = isRecord(body.details) ? body.details.service : undefined;
    if (typeof service !== 'string' || !DEPENDENCIES.has(service))
      return `503 without a dependency in details.service (${String(service)})`;
  }
  return null;
}

/** Classifies a response that arrived (the body is read here). */
export async function classifyResponse(res: Response, expected: RouteExpectation, correlationId: string): Promise<Outcome> {
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    return { kind: 'outside', reason: `body read failed: ${transportReason(error)}` };
  }
  if (res.headers.get('x-correlation-id') !== correlationId)
    return { kind: 'outside', reason: `${res.status} without the request's X-Correlation-ID` };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'outside', reason: `${res.status} with a body that is not JSON` };
  }
  if (res.status === expected.success) {
    return isRecord(body) && expected.shape(body)
      ? { kind: 'success', body }
      : { kind: 'outside', reason: `${res.status} with a malformed body` };
  }
  if (!ALLOWED_ERROR_STATUSES.has(res.status)) {
    const code = isRecord(body) ? String(body.error) : '?';
    return { kind: 'outside', reason: `status ${res.status} (${code})` };
  }
  const problem = errorBodyProblem(res.status, body, correlationId);
  if (problem) return { kind: 'outside', reason: `${res.status}: ${problem}` };
  const details = isRecord(body) && isRecord(body.details) ? body.details : null;
  return { kind: 'contract_error', status: res.status, service: typeof details?.service === 'string' ? details.service : null };
}

/** A short name for a failed fetch: the socket-level code when there is one. */
export function transportReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timeout';
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

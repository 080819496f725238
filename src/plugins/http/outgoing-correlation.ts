import { subscribe } from 'node:diagnostics_channel';
import { currentContext } from '../../lib/request-context.js';

interface UndiciRequest {
  addHeader(name: string, value: string): void;
}

let installed = false;

/**
 * Every outgoing HTTP call made with fetch/undici while serving a request (Qdrant today)
 * carries the request's X-Correlation-ID (OBS-001), with or without tracing; with tracing
 * on, the undici instrumentation adds `traceparent` beside it. Installed once per process.
 */
export function propagateCorrelationId(): void {
  if (installed) return;
  installed = true;
  subscribe('undici:request:create', (message) => {
    const ctx = currentContext();
    if (ctx) (message as { request: UndiciRequest }).request.addHeader('x-correlation-id', ctx.correlation_id);
  });
}

import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What every log line written while serving a request must carry (OBS-001). Stored in
 * AsyncLocalStorage so code that has no `request` at hand — repositories, the database
 * query logger — still writes the request's correlation id.
 */
export interface RequestContext {
  readonly correlation_id: string;
  project_id?: string;
  user_id?: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

export function currentContext(): RequestContext | undefined {
  return requestContext.getStore();
}

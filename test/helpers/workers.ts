import { expect } from 'vitest';
import type { RunningApp } from './build-app.js';
import { json, type TestUser } from './factories.js';

export interface TestWorker {
  readonly name: string;
  readonly token: string;
  readonly auth: Record<string, string>;
}

/** A worker credential signed by the app's own key (what `npm run token -- --worker` prints). */
export async function createWorker(server: RunningApp, name: string): Promise<TestWorker> {
  const { access_token } = await server.app.services.tokens.issueWorker(name, 1);
  return { name, token: access_token, auth: { authorization: `Bearer ${access_token}` } };
}

export interface Lease {
  readonly lease: { id: string; expires_at: string; attempt: number };
  readonly operation: { id: string; project_id: string; kind: string; status: string };
  readonly project: { id: string; language: string };
  readonly token: string;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function post(auth: Record<string, string>, body: unknown, method = 'POST'): RequestInit {
  return { method, headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(body) };
}

/** POST /worker/leases; the lease, or null on 204. */
export async function lease(
  server: { request: RunningApp['request'] },
  worker: TestWorker,
  body: Record<string, unknown>,
): Promise<Lease | null> {
  const res = await server.request('/api/v1/worker/leases', post(worker.auth, body));
  if (res.status === 204) return null;
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Lease;
}

export async function createOperation(server: RunningApp, user: TestUser, projectId: string, kind = 'draft.document'): Promise<string> {
  const res = await server.request(`/api/v1/projects/${projectId}/operations`, json(user, { kind }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

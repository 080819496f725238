import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { RunningApp } from './build-app.js';

export interface TestUser {
  readonly id: string;
  readonly email: string;
  readonly token: string;
  readonly auth: Record<string, string>;
}

export interface TestProject {
  readonly id: string;
  readonly name: string;
  readonly language: string;
}

/**
 * The one way tests get users and tokens: the real dev-login route (of this process's app or
 * of a server in another process at `baseUrl`).
 */
export async function devLoginToken(baseUrl: string, email: string, name?: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v1/auth/dev-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(name === undefined ? { email } : { email, name }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A new user through the real dev-login route, with a token. */
export async function createUser(server: RunningApp, name = 'Test User'): Promise<TestUser> {
  const email = `user-${randomUUID()}@example.com`;
  const access_token = await devLoginToken(server.baseUrl, email, name);
  const auth = { authorization: `Bearer ${access_token}` };
  const me = await server.request('/api/v1/auth/me', { headers: auth });
  expect(me.status).toBe(200);
  const { id } = (await me.json()) as { id: string };
  return { id, email, token: access_token, auth };
}

export function json(user: TestUser | null, body: unknown, method = 'POST'): RequestInit {
  return {
    method,
    headers: { 'content-type': 'application/json', ...(user?.auth ?? {}) },
    body: JSON.stringify(body),
  };
}

export async function createProject(server: RunningApp, owner: TestUser, name = 'Project', language?: string): Promise<TestProject> {
  const res = await server.request('/api/v1/projects', json(owner, { name, ...(language ? { language } : {}) }));
  expect(res.status).toBe(201);
  return (await res.json()) as TestProject;
}

export async function addMember(server: RunningApp, owner: TestUser, projectId: string, member: TestUser, role: string): Promise<void> {
  const res = await server.request(`/api/v1/projects/${projectId}/members/${member.id}`, json(owner, { role }, 'PUT'));
  expect(res.status).toBe(200);
}

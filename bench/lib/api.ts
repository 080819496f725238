/**
 * The few API calls the scenarios make to set up their data, through the public HTTP API as a
 * client would (dev-login, projects, operations). Every answer is checked: a setup that
 * silently failed would make the load figures measure 4xx answers.
 */
async function call<T>(baseUrl: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export async function devLogin(baseUrl: string, email: string): Promise<string> {
  return (await call<{ access_token: string }>(baseUrl, 'POST', '/api/v1/auth/dev-login', undefined, { email })).access_token;
}

export async function createProject(baseUrl: string, token: string, name: string): Promise<string> {
  return (await call<{ id: string }>(baseUrl, 'POST', '/api/v1/projects', token, { name })).id;
}

export async function createOperation(baseUrl: string, token: string, projectId: string): Promise<string> {
  return (await call<{ id: string }>(baseUrl, 'POST', `/api/v1/projects/${projectId}/operations`, token, { kind: 'agent_run' })).id;
}

/** A signed-in user with one project of its own: what every authenticated scenario reads. */
export async function userWithProject(baseUrl: string): Promise<{ token: string; projectId: string }> {
  const token = await devLogin(baseUrl, 'bench@example.com');
  return { token, projectId: await createProject(baseUrl, token, 'Bench project') };
}

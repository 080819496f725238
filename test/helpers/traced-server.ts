import { beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { devLoginToken } from './factories.js';
import { closeWhenFileEnds, filledByBeforeAll, once } from './fixtures.js';
import { OtlpReceiver } from './otlp-receiver.js';
import { freePort, type ServerProcess, spawnTracedServer } from './server-process.js';
import { until } from './wait.js';

/*
 * The telemetry tests' set-up as one call: a fresh database, a stand-in collector
 * (otlp-receiver.ts) and the real entry point with the telemetry preload exporting to it, and a
 * dev-login token. It registers a `beforeAll` that fills the returned object and closes all three
 * when the file ends (fixtures.ts): the server first, then the receiver, then the database.
 */

export interface TracedServerFixture {
  readonly db: TestDatabase;
  readonly receiver: OtlpReceiver;
  readonly server: ServerProcess;
  /** The server's base URL (127.0.0.1, its own port). */
  readonly base: string;
  /** A bearer token of the dev-login user `email`. */
  readonly token: string;
}

export interface TracedServerOptions {
  /** The dev-login user whose token the file uses. */
  readonly email: string;
  /** The output line that says the server is up (default: Fastify's "Server listening"). */
  readonly listening?: RegExp;
  /** Also poll /api/v1/health/live until 200, for a `listening` pattern that may match before the server listens. */
  readonly untilLive?: boolean;
  /**
   * How the server is stopped when the file ends, if a test has not stopped it: SIGTERM (its
   * graceful shutdown) or SIGKILL, for a file that leaves the collector in a state where a
   * graceful shutdown would wait on exports.
   */
  readonly stopSignal?: 'SIGTERM' | 'SIGKILL';
}

/** `env` is the server's environment beyond DATABASE_URL (set here); async when it needs a free port. */
export function useTracedServer(
  env: () => Record<string, string> | Promise<Record<string, string>>,
  options: TracedServerOptions,
): TracedServerFixture {
  const state = filledByBeforeAll<TracedServerFixture>('useTracedServer');
  beforeAll(async () => {
    const db = await createTestDatabase();
    const receiver = new OtlpReceiver(await freePort());
    await receiver.start();
    closeWhenFileEnds(once(() => receiver.stop()));
    const { server, base } = await spawnTracedServer(receiver.url, { DATABASE_URL: db.url, ...(await env()) });
    closeWhenFileEnds(
      once(async () => {
        if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(options.stopSignal ?? 'SIGTERM');
        await server.exited;
      }),
    );
    await server.waitForLine(options.listening ?? /Server listening/, 30_000);
    if (options.untilLive) await until(async () => (await fetch(`${base}/api/v1/health/live`).catch(() => null))?.status === 200, 30_000);
    state.set({ db, receiver, server, base, token: await devLoginToken(base, options.email) });
  });
  return {
    get db() {
      return state.get().db;
    },
    get receiver() {
      return state.get().receiver;
    },
    get server() {
      return state.get().server;
    },
    get base() {
      return state.get().base;
    },
    get token() {
      return state.get().token;
    },
  };
}

/**
 * A project (named `name`) and an operation in it, created through the API with the fixture's
 * token: the arrange step of the telemetry tests that need an operation to stream or publish to.
 */
export async function createProjectOperation(
  traced: TracedServerFixture,
  name: string,
): Promise<{ project: { id: string }; op: { id: string } }> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${traced.base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${traced.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as { id: string };
  };
  const project = await post('/api/v1/projects', { name });
  return { project, op: await post(`/api/v1/projects/${project.id}/operations`, { kind: 'x' }) };
}

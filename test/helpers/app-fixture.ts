import { beforeAll } from 'vitest';
import type { Env } from '../../src/config.js';
import { type RunningApp, startApp } from './build-app.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { createProject, createUser, type TestProject, type TestUser } from './factories.js';
import { closeWhenFileEnds, filledByBeforeAll } from './fixtures.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/*
 * The set-up most integration files share, as one call at the top of the file: it registers a
 * `beforeAll` that fills the returned object, and nothing to close — the app, the database and
 * the Redis server close themselves when the file ends (fixtures.ts). Fields read before that
 * `beforeAll` ran (at module level, in `describe` bodies) throw, naming the fixture.
 */

/** The environment a fixture's app starts with; a function when it needs something started first (a Redis of the file's own). */
export type AppEnv = Env | (() => Env);

export interface AppFixture {
  readonly db: TestDatabase;
  readonly server: RunningApp;
}

export interface ProjectAppFixture extends AppFixture {
  readonly owner: TestUser;
  readonly project: TestProject;
}

export interface ProjectNames {
  /** The owner's display name (createUser's default when absent). */
  readonly owner?: string;
  /** The project's name (createProject's default when absent). */
  readonly project?: string;
}

/** A fresh migrated database and the real app on it (DATABASE_URL set), started before the file's tests. */
export function useApp(env: AppEnv = {}): AppFixture {
  const state = filledByBeforeAll<AppFixture>('useApp');
  beforeAll(async () => {
    const db = await createTestDatabase();
    const server = await startApp({ DATABASE_URL: db.url, ...(typeof env === 'function' ? env() : env) });
    state.set({ db, server });
  });
  return {
    get db() {
      return state.get().db;
    },
    get server() {
      return state.get().server;
    },
  };
}

/** `useApp`, then an owner (through the real dev-login) and a project of theirs. */
export function useProjectApp(env: AppEnv = {}, names: ProjectNames = {}): ProjectAppFixture {
  const app = useApp(env);
  const state = filledByBeforeAll<{ owner: TestUser; project: TestProject }>('useProjectApp');
  beforeAll(async () => {
    const owner = await createUser(app.server, names.owner);
    state.set({ owner, project: await createProject(app.server, owner, names.project) });
  });
  return {
    get db() {
      return app.db;
    },
    get server() {
      return app.server;
    },
    get owner() {
      return state.get().owner;
    },
    get project() {
      return state.get().project;
    },
  };
}

/** A redis-server of the file's own (it may stop and start it), stopped when the file ends. Call it before the app fixture that uses it. */
export function useRedisServer(): RedisServer {
  const state = filledByBeforeAll<RedisServer>('useRedisServer');
  beforeAll(async () => {
    const redis = await startRedisServer();
    closeWhenFileEnds(redis.stop);
    state.set(redis);
  });
  return {
    get url() {
      return state.get().url;
    },
    get port() {
      return state.get().port;
    },
    stop: () => state.get().stop(),
    start: () => state.get().start(),
  };
}

import { afterAll } from 'vitest';

/**
 * Fixtures close themselves: `startApp` and `createTestDatabase` register their teardown here,
 * and it runs once the test file is done, last first (apps close before their databases are
 * dropped). Loaded for every test file by vitest.config.ts (`setupFiles`); it imports nothing
 * of the app, so a file may still set up global providers before it imports the app.
 */
const teardowns: Array<() => Promise<void>> = [];

export function closeWhenFileEnds(teardown: () => Promise<void>): void {
  teardowns.push(teardown);
}

/** Runs a teardown once, however many times it is called (a test may close early; the file end closes again). */
export function once(teardown: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= teardown();
    return done;
  };
}

/**
 * A value a fixture's `beforeAll` sets (app-fixture.ts, traced-server.ts): reading it earlier (at
 * module level, in a `describe` body) is a mistake in the test file, said plainly.
 */
export function filledByBeforeAll<T>(fixture: string): { set: (value: T) => void; get: () => T } {
  let value: T | undefined;
  return {
    set: (v) => {
      value = v;
    },
    get: () => {
      if (value === undefined) throw new Error(`${fixture}: read before its beforeAll ran (read it inside a hook or a test)`);
      return value;
    },
  };
}

afterAll(async () => {
  for (let teardown = teardowns.pop(); teardown !== undefined; teardown = teardowns.pop()) await teardown();
});

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
 * What a fixture returns (app-fixture.ts, traced-server.ts): an object whose fields read through
 * to the value its `beforeAll` sets. Reading a field earlier (at module level, in a `describe`
 * body) is a mistake in the test file, said plainly.
 */
export function filledByBeforeAll<T extends object>(fixture: string): { set: (value: T) => void; value: T } {
  let filled: T | undefined;
  const read = (): T => {
    if (filled === undefined) throw new Error(`${fixture}: read before its beforeAll ran (read it inside a hook or a test)`);
    return filled;
  };
  return {
    set: (v) => {
      filled = v;
    },
    value: new Proxy({} as T, { get: (_target, key) => Reflect.get(read(), key) }),
  };
}

afterAll(async () => {
  for (let teardown = teardowns.pop(); teardown !== undefined; teardown = teardowns.pop()) await teardown();
});

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

afterAll(async () => {
  for (let teardown = teardowns.pop(); teardown !== undefined; teardown = teardowns.pop()) await teardown();
});

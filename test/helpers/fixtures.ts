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

/**
 * A teardown that has not finished after this long is left behind so the fixtures after it (a
 * database drop, a Redis stop) still run, and the file then fails naming it: a hanging close is
 * a defect, never a silent pass. The one seen (an app close() in rate-limit.test.ts waiting on
 * connections that never sent a byte) is fixed in src/plugins/http/graceful-close.ts
 * (docs/adr/0024-rate-limit-gcra.md).
 */
const TEARDOWN_BUDGET_MS = 20_000;

async function bounded(teardown: () => Promise<void>): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), TEARDOWN_BUDGET_MS);
  });
  const outcome = await Promise.race([teardown().then(() => 'done' as const), late]);
  clearTimeout(timer);
  return outcome === 'late' ? teardown.name || 'anonymous' : null;
}

afterAll(async () => {
  const late: string[] = [];
  for (let teardown = teardowns.pop(); teardown !== undefined; teardown = teardowns.pop()) {
    const name = await bounded(teardown);
    if (name !== null) late.push(name);
  }
  if (late.length > 0) throw new Error(`fixture teardown still running after ${TEARDOWN_BUDGET_MS} ms: ${late.join(', ')}`);
});

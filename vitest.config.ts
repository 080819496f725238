import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The image tier has its own command and config (vitest.image.config.ts).
    exclude: [...configDefaults.exclude, 'test/image/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/fixtures.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      // The entry point and CLIs run in child processes in the tests; v8 coverage of the
      // worker does not see them.
      exclude: ['src/server.ts', 'src/cli/**', 'src/types/**'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 80 },
    },
  },
});

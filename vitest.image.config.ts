import { defineConfig } from 'vitest/config';

/*
 * The image tier (`npm run test:image`, docs/adr/0013): builds the production image with a real
 * Docker engine and runs it against the run's PostgreSQL and Redis. Minutes, not seconds, and it
 * needs root to start an engine, so `npm test` leaves it out (vitest.config.ts excludes test/image).
 */
export default defineConfig({
  test: {
    include: ['test/image/**/*.test.ts'],
    // The image first: without an engine there is nothing to start PostgreSQL and Redis for.
    globalSetup: ['test/image/global-setup.ts', 'test/helpers/global-setup.ts'],
    // Fixtures (test databases) close themselves when a file ends, as in the main suite.
    setupFiles: ['test/helpers/fixtures.ts'],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two cores: files run two at a time, each with its own database and Redis prefix.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Property tests run hundreds of cases; a loaded 2-core machine needs the room.
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // A page waits on real requests (a login runs scrypt): poll for longer than the 1 s default.
          expect: { poll: { timeout: 10_000 } },
        },
      },
    ],
  },
});

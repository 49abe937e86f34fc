import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Browser tests drive Debian's Chromium. Without it a developer's `npm test` still runs the rest and
// says what was left out; CI (CI=true) always runs them, so a missing browser fails loudly there.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const runBrowserTests = existsSync(chromium) || process.env.CI === 'true';
if (!runBrowserTests)
  console.warn(
    `Browser tests skipped: no Chromium at ${chromium} (apt-get install chromium, or set CHROMIUM_PATH).`,
  );

const browserProject = {
  test: {
    name: 'browser',
    include: ['test/browser/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // A page waits on real requests (a login runs scrypt): poll for longer than the 1 s default.
    expect: { poll: { timeout: 10_000 } },
  },
};

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
      ...(runBrowserTests ? [browserProject] : []),
    ],
  },
});

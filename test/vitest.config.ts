import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: new URL('..', import.meta.url).pathname,
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: two workers; each test file gets its own Firestore project and stand-in.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default'],
  },
});

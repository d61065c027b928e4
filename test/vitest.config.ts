import path from 'node:path';
import { defineConfig } from 'vitest/config';

const root = new URL('..', import.meta.url).pathname;
// The app's own job tests live beside its jobs (`npm run new-job` writes them there).
const appJobs = path.relative(
  root,
  path.resolve(root, process.env.CONSENT_VAULT_JOBS_DIR ?? 'jobs'),
);

export default defineConfig({
  root,
  test: {
    include: ['test/**/*.test.ts', `${appJobs}/**/*.test.ts`],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: two workers; each test file gets its own Firestore project and stand-in.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default'],
  },
});

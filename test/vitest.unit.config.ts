// The fast lane (`npm run test:unit`): every test that needs no emulator, no Google stand-in and no
// browser. Tests that need them live in the other folders and run in `npm test` only; a test
// placed here by mistake fails at once (it finds no emulator host).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: new URL('..', import.meta.url).pathname,
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/deploy/args.test.ts',
      'test/deploy/plan.test.ts',
      'test/deploy/monitoring.test.ts',
      'test/standin/drive-query.test.ts',
      'test/standin/sheets-range.test.ts',
    ],
    exclude: ['**/node_modules/**', 'dist/**'],
    maxWorkers: 2,
    pool: 'forks',
  },
});

// Second pass of `npm test`: scans everything the first pass logged for every secret the
// stand-ins issued (test/log-scan). Runs after the main suite, never alone.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: new URL('..', import.meta.url).pathname,
  test: { include: ['test/log-scan/*.check.ts'], pool: 'forks' },
});

// Second pass of `npm test`, after the main suite and never alone (test/log-scan): scans
// everything the first pass logged for every secret the stand-ins issued, and checks that every
// collection it wrote with an `expireAt` has a TTL policy.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: new URL('..', import.meta.url).pathname,
  test: { include: ['test/log-scan/*.check.ts'], pool: 'forks' },
});

// Wraps a run limiter to count the users inside run() itself (not trusting the limiter's own
// count) and keep the peak: the test and the benchmark that check WORKER_CONCURRENCY use it.
import type { AdaptiveLimiter } from '../../shared/runs/limiter.ts';

export function trackedLimiter(limiter: AdaptiveLimiter): {
  limiter: AdaptiveLimiter;
  peak: () => number;
} {
  let users = 0;
  let peak = 0;
  return {
    limiter: {
      run: (work) =>
        limiter.run(async () => {
          users += 1;
          peak = Math.max(peak, users);
          try {
            return await work();
          } finally {
            users -= 1;
          }
        }),
      // Lanes taken with acquire() are not counted: processUser takes its Google lane with run().
      acquire: () => limiter.acquire(),
      get active() {
        return limiter.active;
      },
      get limit() {
        return limiter.limit;
      },
      slowDown: () => limiter.slowDown(),
      recovered: () => limiter.recovered(),
    },
    peak: () => peak,
  };
}

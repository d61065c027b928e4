// A per-instance concurrency limit shared by every batch in flight on this instance, so the
// number of users processed at once stays at WORKER_CONCURRENCY however many Pub/Sub deliveries
// arrive together (a gen2 function instance may take several requests at once).
//
// The Google lanes adapt to the project's quota (docs/architecture.md#quota-aware-lanes): when Google says slow down
// (429, `rateLimitExceeded`), the instance halves its lanes, at most once per cool-down, and
// earns them back one at a time as users finish without being told so: additive increase,
// multiplicative decrease, as TCP's congestion control does (RFC 5681 §3.1). Each instance finds
// its share alone, so a fleet meeting a quota drains its 429s instead of retrying into them.
import type { Clock } from '../retry/time.ts';

export interface Limiter {
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Waits for a lane; the returned function gives it back (calling it again does nothing). */
  acquire(): Promise<() => void>;
  readonly active: number;
}

export interface AdaptiveLimiter extends Limiter {
  /** Lanes open now (at most the configured concurrency, at least one). */
  readonly limit: number;
  /** Google asked us to slow down: halve the lanes (once per cool-down, however many said so). */
  slowDown(): void;
  /** A user's Google work ended without being asked to slow down: a step back up. */
  recovered(): void;
}

export interface AdaptiveOptions {
  readonly clock: Clock;
  /** One halving per this window: the 429s of calls already in flight say nothing new. */
  readonly coolDownMs?: number;
}

const DEFAULT_COOL_DOWN_MS = 1_000;

export function createLimiter(concurrency: number): Limiter {
  return createAdaptiveLimiter(concurrency);
}

export function createAdaptiveLimiter(
  concurrency: number,
  options?: AdaptiveOptions,
): AdaptiveLimiter {
  let active = 0;
  /** Fractional: one lane comes back per `limit` recoveries (about one round of users). */
  let limit = concurrency;
  let lastDecrease = Number.NEGATIVE_INFINITY;
  const waiting: (() => void)[] = [];
  const open = () => Math.max(1, Math.floor(limit));
  const admit = (): void => {
    while (active < open() && waiting.length > 0) {
      active += 1;
      waiting.shift()!();
    }
  };
  const release = (): void => {
    active -= 1;
    admit();
  };
  const acquire = async (): Promise<() => void> => {
    if (active < open() && waiting.length === 0) active += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      release();
    };
  };
  return {
    async run(work) {
      const done = await acquire();
      try {
        return await work();
      } finally {
        done();
      }
    },
    acquire,
    get active() {
      return active;
    },
    get limit() {
      return open();
    },
    slowDown() {
      if (!options) return;
      const now = options.clock.now();
      if (now - lastDecrease < (options.coolDownMs ?? DEFAULT_COOL_DOWN_MS)) return;
      lastDecrease = now;
      limit = Math.max(1, limit / 2);
    },
    recovered() {
      if (!options || limit >= concurrency) return;
      limit = Math.min(concurrency, limit + 1 / open());
      admit();
    },
  };
}

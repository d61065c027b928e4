// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"),
// honouring Retry-After, bounded by a deadline and/or a number of attempts. Only failures that
// shared/retry/classify.ts calls transient are retried; when the next wait would cross the
// deadline or the attempts are spent, the last error is rethrown (the runs then leave the work
// for Pub/Sub redelivery). Random source, clock and sleep are injectable.
import { classifyError } from './classify.ts';
import { sleep, type Clock } from './time.ts';

export interface BackoffPolicy {
  readonly baseMs?: number;
  /** Upper bound of one jittered wait (Retry-After may ask for more, up to maxWaitMs). */
  readonly maxMs?: number;
  /** Upper bound of any single wait, Retry-After included. */
  readonly maxWaitMs?: number;
  readonly random?: () => number;
}

export interface BackoffOptions extends BackoffPolicy {
  readonly clock: Clock;
  /** Absolute time (ms) after which no new attempt starts. */
  readonly deadline?: number;
  /** Attempts in all, the first included. */
  readonly attempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each wait (metrics, debug logs). */
  readonly onRetry?: (info: {
    attempt: number;
    delayMs: number;
    reason: string;
    status: number | undefined;
  }) => void;
}

const DEFAULT_BASE_MS = 200;
const DEFAULT_MAX_MS = 10_000;

/** The wait before retry number `attempt + 1`: full jitter, at least Retry-After. */
export function backoffDelay(
  attempt: number,
  retryAfterSeconds: number | undefined,
  policy: BackoffPolicy = {},
): number {
  const random = policy.random ?? Math.random;
  const ceiling = Math.min(
    policy.maxMs ?? DEFAULT_MAX_MS,
    (policy.baseMs ?? DEFAULT_BASE_MS) * 2 ** attempt,
  );
  const jittered = Math.floor(random() * ceiling);
  const delay =
    retryAfterSeconds === undefined ? jittered : Math.max(retryAfterSeconds * 1000, jittered);
  return policy.maxWaitMs === undefined ? delay : Math.min(delay, policy.maxWaitMs);
}

export async function withBackoff<T>(work: () => Promise<T>, options: BackoffOptions): Promise<T> {
  const {
    clock,
    deadline = Number.POSITIVE_INFINITY,
    attempts = Number.POSITIVE_INFINITY,
  } = options;
  const wait = options.sleep ?? sleep;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const classified = classifyError(error, clock.now());
      if (classified.failure !== 'transient' || attempt + 1 >= attempts) throw error;
      const delayMs = backoffDelay(attempt, classified.retryAfterSeconds, options);
      if (clock.now() + delayMs >= deadline) throw error;
      options.onRetry?.({
        attempt: attempt + 1,
        delayMs,
        reason: classified.reason,
        status: classified.status,
      });
      await wait(delayMs);
    }
  }
}

// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"),
// honouring Retry-After, inside a deadline: when the next wait would cross the deadline, the last
// error is rethrown and the work is left for Pub/Sub redelivery. Only transient failures retry.
import type { Clock } from '../platform/runtime.ts';
import { classifyError } from './classify.ts';

export interface BackoffOptions {
  readonly clock: Clock;
  /** Absolute time (ms) after which no new attempt starts. */
  readonly deadline: number;
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each wait (metrics, debug logs). */
  readonly onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

export function backoffDelay(
  attempt: number,
  retryAfterSeconds: number | undefined,
  random: () => number,
  baseMs: number,
  maxMs: number,
): number {
  const jittered = Math.floor(random() * Math.min(maxMs, baseMs * 2 ** attempt));
  return retryAfterSeconds === undefined ? jittered : Math.max(retryAfterSeconds * 1000, jittered);
}

export async function withBackoff<T>(work: () => Promise<T>, options: BackoffOptions): Promise<T> {
  const { clock, deadline } = options;
  const random = options.random ?? Math.random;
  const wait = options.sleep ?? sleep;
  const baseMs = options.baseMs ?? 200;
  const maxMs = options.maxMs ?? 10_000;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const classified = classifyError(error);
      if (classified.failure !== 'transient') throw error;
      const delayMs = backoffDelay(attempt, classified.retryAfterSeconds, random, baseMs, maxMs);
      if (clock.now() + delayMs >= deadline) throw error;
      options.onRetry?.({ attempt: attempt + 1, delayMs, reason: classified.reason });
      await wait(delayMs);
    }
  }
}

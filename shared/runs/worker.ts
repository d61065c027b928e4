// The worker's Pub/Sub delivery handling: count the attempt, parse, dead-letter what can never
// succeed, process the batch, and ask for redelivery (by throwing) while users are still pending.
import { BAD_MESSAGE, isOperationError, OperationError, REDELIVER } from '../errors.ts';
import { processBatch, readBatchState, type BatchSummary } from './batch.ts';
import {
  countDelivery,
  DEAD_LETTER_ALERT,
  recordDeadLetter,
  type DeadLetterReason,
} from './dead-letter.ts';
import { provenanceOf } from './dispatched.ts';
import type { RunDeps } from './deps.ts';
import { parseWorkBatch, type PubSubDelivery, type WorkBatch } from './messages.ts';
import { finishedByDelivery, logUsersFinished } from './users-finished.ts';

export type WorkResult =
  | { readonly kind: 'processed'; readonly summary: BatchSummary }
  | { readonly kind: 'dead-lettered'; readonly reason: DeadLetterReason };

export async function handleWorkDelivery(
  deps: RunDeps,
  delivery: PubSubDelivery,
): Promise<WorkResult> {
  const { db, runtime } = deps;
  const now = runtime.clock.now();
  // The delivery is counted (a Firestore transaction, when Pub/Sub does not say) while the
  // batch's reads run: both are needed before any user starts, neither needs the other.
  const counted =
    delivery.deliveryAttempt === undefined
      ? countDelivery(db, delivery.messageId, now)
      : Promise.resolve(delivery.deliveryAttempt);
  counted.catch(() => undefined); // awaited below on every path; never an unhandled rejection
  let batch: WorkBatch;
  try {
    batch = parseWorkBatch(delivery);
  } catch (error) {
    if (!isOperationError(error, BAD_MESSAGE)) throw error;
    const attempt = await counted;
    // Deterministic: no later delivery can parse it either.
    runtime.log.error('malformed work message dead-lettered', {
      alert: DEAD_LETTER_ALERT,
      reason: 'malformed',
      messageId: delivery.messageId,
      attempt,
      error,
    });
    await recordDeadLetter(db, delivery, { reason: 'malformed', attempt, now });
    return { kind: 'dead-lettered', reason: 'malformed' };
  }
  // Its provenance is read beside the batch's own reads: no extra round trip before users start.
  const [attempt, provenance, state] = await Promise.all([
    counted,
    provenanceOf(db, batch),
    readBatchState(deps, batch),
  ]);
  if (provenance !== 'dispatched') {
    runtime.log.error('forged work message dead-lettered: no batch the dispatcher published', {
      alert: DEAD_LETTER_ALERT,
      reason: 'forged',
      messageId: delivery.messageId,
      runId: batch.runId,
      batchId: batch.batchId,
      provenance,
      attempt,
    });
    await recordDeadLetter(db, delivery, { reason: 'forged', attempt, now });
    return { kind: 'dead-lettered', reason: 'forged' };
  }
  if (attempt > deps.maxDeliveryAttempts) {
    runtime.log.error('work message dead-lettered after too many deliveries', {
      alert: DEAD_LETTER_ALERT,
      reason: 'max_attempts',
      messageId: delivery.messageId,
      runId: batch.runId,
      batchId: batch.batchId,
      attempt,
    });
    await recordDeadLetter(db, delivery, { reason: 'max_attempts', attempt, now });
    return { kind: 'dead-lettered', reason: 'max_attempts' };
  }
  const final = attempt >= deps.maxDeliveryAttempts;
  const summary = await processBatch(deps, batch, { attempt, final }, state);
  const log = runtime.log.child({ runId: batch.runId, batchId: batch.batchId });
  const finished = finishedByDelivery(summary.outcomes, state.done.values());
  // A re-run's users finish in time for a deadline counted from the re-run's own start.
  logUsersFinished(log, finished, {
    runStartedAt: state.rerunSince ?? state.runStartedAt,
    now: runtime.clock.now(),
  });
  if (final && summary.deadLettered) {
    log.error('work batch dead-lettered: users still failing after the last delivery', {
      alert: DEAD_LETTER_ALERT,
      reason: 'max_attempts',
      messageId: delivery.messageId,
      attempt,
      users: finished.find((count) => count.outcome === 'dead-lettered')?.users ?? 0,
    });
    await recordDeadLetter(db, delivery, {
      reason: 'max_attempts',
      attempt,
      now: runtime.clock.now(),
    });
  }
  if (summary.pending > 0 && !final)
    throw new OperationError(REDELIVER, `${summary.pending} user(s) left for redelivery`, {
      detail: String(summary.pending),
    });
  return { kind: 'processed', summary };
}

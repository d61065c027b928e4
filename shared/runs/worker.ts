// The worker's Pub/Sub delivery handling: count the attempt, parse, dead-letter what can never
// succeed, process the batch, and ask for redelivery (by throwing) while users are still pending.
import { BAD_MESSAGE, isOperationError, OperationError, REDELIVER } from '../errors.ts';
import { processBatch, readBatchState, type BatchSummary } from './batch.ts';
import { countDelivery, recordDeadLetter, type DeadLetterReason } from './dead-letter.ts';
import { provenanceOf } from './dispatched.ts';
import type { RunDeps } from './deps.ts';
import { parseWorkBatch, type PubSubDelivery, type WorkBatch } from './messages.ts';

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
  if (final && summary.deadLettered)
    await recordDeadLetter(db, delivery, {
      reason: 'max_attempts',
      attempt,
      now: runtime.clock.now(),
    });
  if (summary.pending > 0 && !final)
    throw new OperationError(REDELIVER, `${summary.pending} user(s) left for redelivery`, {
      detail: String(summary.pending),
    });
  return { kind: 'processed', summary };
}

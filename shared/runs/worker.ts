// The worker's Pub/Sub delivery handling: parse, count the attempt, dead-letter what can never
// succeed, continue a batch whose deliveries died, process the batch, and ask for redelivery (by
// throwing) while users are still pending.
import { BAD_MESSAGE, isOperationError, OperationError, REDELIVER } from '../errors.ts';
import { processBatch, readBatchState, type BatchSummary } from './batch.ts';
import {
  continuationAttributes,
  readAttempts,
  parseChain,
  recordFinishedDelivery,
  type Chain,
} from './attempts.ts';
import { DEAD_LETTER_ALERT, recordDeadLetter, type DeadLetterReason } from './dead-letter.ts';
import { provenanceOf } from './dispatched.ts';
import type { RunDeps } from './deps.ts';
import { parseWorkBatch, type PubSubDelivery, type WorkBatch } from './messages.ts';
import { finishedByDelivery, logUsersFinished } from './users-finished.ts';

export type WorkResult =
  | { readonly kind: 'processed'; readonly summary: BatchSummary }
  | { readonly kind: 'dead-lettered'; readonly reason: DeadLetterReason }
  /** Its users still to do went out as a fresh message (./attempts.ts). */
  | { readonly kind: 'continued'; readonly users: number };

export async function handleWorkDelivery(
  deps: RunDeps,
  delivery: PubSubDelivery,
): Promise<WorkResult> {
  const { db, runtime } = deps;
  const now = runtime.clock.now();
  let batch: WorkBatch;
  let chain: Chain;
  try {
    batch = parseWorkBatch(delivery);
    chain = parseChain(delivery);
  } catch (error) {
    if (!isOperationError(error, BAD_MESSAGE)) throw error;
    // Deterministic: no later delivery can parse it either.
    const attempt = delivery.deliveryAttempt ?? 1;
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
  // The delivery's counts (a Firestore transaction, when Pub/Sub does not number it) and its
  // provenance are read beside the batch's own reads: no extra round trip before users start.
  const [attempts, provenance, state] = await Promise.all([
    readAttempts(db, delivery, chain, now),
    provenanceOf(db, batch),
    readBatchState(deps, batch),
  ]);
  const attempt = attempts.delivery;
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
  const log = runtime.log.child({ runId: batch.runId, batchId: batch.batchId });
  const todo = batch.subs.filter((sub) => !state.done.has(sub));
  if (attempts.lost > 0 && todo.length > 0 && todo.length < batch.subs.length) {
    // Deliveries died, and users got done meanwhile: the rest start afresh, so the crashes do
    // not spend the tries Pub/Sub allows the message (./attempts.ts).
    await deps.publisher.publish(
      runtime.config.pubsub.workTopic,
      { ...batch, subs: todo },
      { runId: batch.runId, batchId: batch.batchId, ...continuationAttributes(attempts) },
    );
    log.warn('batch continued after a lost delivery', {
      messageId: delivery.messageId,
      lost: attempts.lost,
      done: batch.subs.length - todo.length,
      users: todo.length,
      attempt,
    });
    return { kind: 'continued', users: todo.length };
  }
  if (attempts.ofMessage > deps.maxDeliveryAttempts) {
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
  // The last try: the users' own tries are spent, or Pub/Sub will not deliver the message again.
  const final =
    attempts.finished + 1 >= deps.maxDeliveryAttempts ||
    attempts.ofMessage >= deps.maxDeliveryAttempts;
  const summary = await processBatch(deps, batch, { attempt, final }, state);
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
  if (summary.pending > 0 && !final) {
    await recordFinishedDelivery(db, delivery.messageId, runtime.clock.now());
    throw new OperationError(REDELIVER, `${summary.pending} user(s) left for redelivery`, {
      detail: String(summary.pending),
    });
  }
  return { kind: 'processed', summary };
}

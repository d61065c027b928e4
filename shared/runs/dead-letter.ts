// The dead-letter path: a work message that is malformed, or still failing after the allowed
// number of deliveries, is recorded in `deadLetters/{messageId}` and acknowledged, so it never
// loops. How deliveries are counted: ./attempts.ts.
import { createHash } from 'node:crypto';
import { FieldValue, Timestamp, type Firestore } from '@google-cloud/firestore';
import { redactText } from '../log.ts';
import { safeId } from './attempts.ts';
import { expireAtFor } from './ledger.ts';
import type { PubSubDelivery } from './messages.ts';

export const DEAD_LETTERS = 'deadLetters';

/**
 * Stable alert field value of every ERROR line that dead-letters a work message, beside its
 * `reason` (a DeadLetterReason): the deploy's dead-letter metric and alerting policy count them
 * (infra/monitoring/).
 */
export const DEAD_LETTER_ALERT = 'work_dead_lettered';
/**
 * `malformed`: unparseable; `forged`: parseable but not a batch the dispatcher published;
 * `max_attempts`: still failing after the last delivery.
 */
export type DeadLetterReason = 'malformed' | 'forged' | 'max_attempts';

export async function recordDeadLetter(
  db: Firestore,
  delivery: PubSubDelivery,
  why: {
    readonly reason: DeadLetterReason;
    readonly attempt: number;
    readonly now: number;
  },
): Promise<void> {
  const { reason, attempt, now } = why;
  const text = delivery.data.toString('utf8');
  await db
    .collection(DEAD_LETTERS)
    .doc(safeId(delivery.messageId))
    .set({
      messageId: delivery.messageId,
      reason,
      attempt,
      attributes: delivery.attributes,
      bytes: delivery.data.length,
      sha256: createHash('sha256').update(delivery.data).digest('hex'),
      // Work messages hold only ids; still, never store anything token-shaped.
      preview: redactText(text.slice(0, 1000)),
      at: Timestamp.fromMillis(now),
      count: FieldValue.increment(1),
      expireAt: expireAtFor(now),
    });
}

// How many tries a work message's users have had. Pub/Sub counts every delivery, including the
// ones no instance finished (it was killed, timed out, or was not up): after the subscription's
// maxDeliveryAttempts it forwards the message to the dead-letter topic, users and all
// (https://cloud.google.com/pubsub/docs/handling-failures). Only a delivery that finished is a
// try of its users' own work, so only those count towards dead-lettering them:
// - each delivery that finishes with users still pending is recorded in
//   `deliveries/{messageId}` before the message is nacked;
// - a redelivery that finds deliveries lost meanwhile, and users done since the message was
//   published, sends the users still to do as a fresh message carrying the chain's counts in
//   its attributes, and acknowledges the old one (./worker.ts). Pub/Sub counts the fresh message
//   from 1, so crashes that keep making progress never reach its limit, while a message that
//   kills every instance before any user is done (a poison batch) still does.
// Each continuation holds fewer users than the message it continues, so a chain is finite.
import { createHash } from 'node:crypto';
import { FieldValue, Timestamp, type Firestore } from '@google-cloud/firestore';
import { BAD_MESSAGE, OperationError } from '../errors.ts';
import { expireAtFor } from './ledger.ts';
import type { PubSubDelivery } from './messages.ts';

const DELIVERIES = 'deliveries';

/** Work message attributes of a continuation: the counts of the messages it continues. */
const CHAIN_ATTRIBUTES = {
  deliveries: 'earlierDeliveries',
  finished: 'earlierFinished',
} as const;

export interface DeliveryAttempts {
  /** This delivery's number in its chain (1 for a first delivery of a dispatched batch). */
  readonly delivery: number;
  /** Deliveries of this message so far, by Pub/Sub's count (or ours when it gives none). */
  readonly ofMessage: number;
  /** Earlier deliveries in the chain that finished: the users' own tries before this one. */
  readonly finished: number;
  /** Earlier deliveries of this message that never finished. */
  readonly lost: number;
}

/**
 * Above any chain count a continuation writes: a chain of MAX_BATCH_USERS users loses one at
 * least per message, each of at most maxDeliveryAttempts deliveries.
 */
const MAX_CHAIN_COUNT = 10_000;

/** What a continuation says of the messages it continues (none: a dispatched batch). */
export interface Chain {
  readonly deliveries: number;
  readonly finished: number;
}

/** Throws BAD_MESSAGE for chain attributes no continuation writes. */
export function parseChain(delivery: PubSubDelivery): Chain {
  return {
    deliveries: chainCount(delivery, CHAIN_ATTRIBUTES.deliveries),
    finished: chainCount(delivery, CHAIN_ATTRIBUTES.finished),
  };
}

function chainCount(delivery: PubSubDelivery, name: string): number {
  const text = delivery.attributes[name];
  if (text === undefined) return 0;
  const count = Number(text);
  if (!/^\d{1,5}$/.test(text) || count > MAX_CHAIN_COUNT)
    throw new OperationError(BAD_MESSAGE, `malformed message: bad ${name} attribute`);
  return count;
}

/**
 * Reads the counts of a delivery. A first delivery reads nothing when Pub/Sub numbers it; a
 * redelivery reads its message's record; without Pub/Sub's number the record counts it too.
 */
export async function readAttempts(
  db: Firestore,
  delivery: PubSubDelivery,
  chain: Chain,
  now: number,
): Promise<DeliveryAttempts> {
  const ref = deliveryRef(db, delivery.messageId);
  let ofMessage = delivery.deliveryAttempt;
  let finishedOfMessage = 0;
  if (ofMessage === undefined) {
    // Counted at the start of each delivery, so a message that crashes every instance is caught.
    [ofMessage, finishedOfMessage] = await db.runTransaction(async (tx) => {
      const snapshot = await tx.get(ref);
      const attempts = Number(snapshot.get('attempts') ?? 0) + 1;
      tx.set(
        ref,
        { attempts, lastAt: Timestamp.fromMillis(now), expireAt: expireAtFor(now) },
        { merge: true },
      );
      return [attempts, Number(snapshot.get('finished') ?? 0)] as const;
    });
  } else if (ofMessage > 1) {
    finishedOfMessage = Number((await ref.get()).get('finished') ?? 0);
  }
  // A finished count above the deliveries (a record from a message id reused by a test) is
  // taken as no loss.
  const lost = Math.max(0, ofMessage - 1 - finishedOfMessage);
  return {
    delivery: chain.deliveries + ofMessage,
    ofMessage,
    finished: chain.finished + Math.min(finishedOfMessage, ofMessage - 1),
    lost,
  };
}

/** A delivery finished with users left pending: one more try of theirs, before the nack. */
export async function recordFinishedDelivery(
  db: Firestore,
  messageId: string,
  now: number,
): Promise<void> {
  await deliveryRef(db, messageId).set(
    {
      finished: FieldValue.increment(1),
      lastAt: Timestamp.fromMillis(now),
      expireAt: expireAtFor(now),
    },
    { merge: true },
  );
}

/** The attributes of a continuation of a message whose delivery found `attempts`. */
export function continuationAttributes(attempts: DeliveryAttempts): Record<string, string> {
  return {
    [CHAIN_ATTRIBUTES.deliveries]: String(attempts.delivery),
    [CHAIN_ATTRIBUTES.finished]: String(attempts.finished),
  };
}

function deliveryRef(db: Firestore, messageId: string) {
  return db.collection(DELIVERIES).doc(safeId(messageId));
}

/** A Firestore document id for a Pub/Sub message id (which is digits in practice). */
export function safeId(messageId: string): string {
  return /^[\w.-]{1,200}$/.test(messageId)
    ? messageId
    : createHash('sha256').update(messageId).digest('hex');
}

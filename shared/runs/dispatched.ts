// What the dispatcher handed out: `runs/{runId}/dispatched/{batchId}` holds the subs of each work
// message, written before the message is published. The worker acts on a message only when it
// matches such a record, so a publisher on the work topic cannot make us work for a run the
// dispatcher never started, nor for users the batch was not given (for example, write
// `export-1970-01-01.csv` into someone's Drive). One write and one read per batch, never per user.
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import { expireAtFor, runRef } from './ledger.ts';
import type { WorkBatch } from './messages.ts';

export const DISPATCHED = 'dispatched';

function dispatchedRef(db: Firestore, runId: string, batchId: string) {
  return runRef(db, runId).collection(DISPATCHED).doc(batchId);
}

/** Idempotent: a resumed dispatch writes the same batch id with the page it publishes again. */
export async function recordDispatched(db: Firestore, batch: WorkBatch, now: number) {
  await dispatchedRef(db, batch.runId, batch.batchId).set({
    subs: batch.subs,
    at: Timestamp.fromMillis(now),
    expireAt: expireAtFor(now),
  });
}

export type Provenance = 'dispatched' | 'unknown-batch' | 'subs-not-in-batch';

/** Whether a work message is one the dispatcher published (its subs a subset of the record's). */
export async function provenanceOf(db: Firestore, batch: WorkBatch): Promise<Provenance> {
  const snapshot = await dispatchedRef(db, batch.runId, batch.batchId).get();
  if (!snapshot.exists) return 'unknown-batch';
  const given = new Set((snapshot.get('subs') as string[] | undefined) ?? []);
  return batch.subs.every((sub) => given.has(sub)) ? 'dispatched' : 'subs-not-in-batch';
}

// The per-run, per-user ledger `runs/{runId}/ledger/{sub}`: written once, when the user's outcome
// for this run is final, with `create()` (fails if present). A redelivered batch reads the ledger
// first and skips users already done. `expireAt` drives a Firestore TTL policy.
import { Timestamp, type DocumentReference, type Firestore } from '@google-cloud/firestore';
import type { FailureClass } from '../retry/classify.ts';
import type { JobRecord } from './user/jobs-step.ts';

export const RUNS = 'runs';
/** How long run records (run, batches, ledger) are kept. */
export const RUN_RECORD_DAYS = 35;

export type FinalOutcome =
  | 'ok'
  /** Some job waits for an incremental consent; the user's other jobs ran. */
  | 'needs-consent'
  /** Some job waits for the app's settings; the user's other jobs ran. */
  | 'needs-settings'
  | 'needs-reconnect'
  | 'revoked'
  | 'revoke-pending'
  | 'failed'
  | 'skipped'
  | 'dead-lettered';

/** Outcomes that are not final: the user is tried again on redelivery or by a later run. */
export type OpenOutcome = 'retry' | 'halted';
export type UserOutcome = FinalOutcome | OpenOutcome;

export interface LedgerEntry {
  sub: string;
  /** The app's id of the user, when the connection came from a connect link. */
  appUserId: string | null;
  batchId: string;
  outcome: FinalOutcome;
  failure: FailureClass | null;
  reason: string | null;
  /** What the jobs did (e.g. `drive-export:created`). */
  effect: string | null;
  /** Each job's outcome, effect and details in this run (null: the jobs were not reached). */
  jobs: Readonly<Record<string, JobRecord>> | null;
  durationMs: number;
  at: Timestamp;
  expireAt: Timestamp;
}

export function runRef(db: Firestore, runId: string): DocumentReference {
  return db.collection(RUNS).doc(runId);
}

export function ledgerPath(runId: string, sub: string): string {
  return `${RUNS}/${runId}/ledger/${sub}`;
}

export function ledgerRef(db: Firestore, runId: string, sub: string): DocumentReference {
  return db.doc(ledgerPath(runId, sub));
}

export function expireAtFor(now: number): Timestamp {
  return Timestamp.fromMillis(now + RUN_RECORD_DAYS * 86400e3);
}

/** Ledger entries of the given users (one getAll round trip). */
export async function readLedger(
  db: Firestore,
  runId: string,
  subs: readonly string[],
): Promise<Map<string, LedgerEntry>> {
  const done = new Map<string, LedgerEntry>();
  if (subs.length === 0) return done;
  const snapshots = await db.getAll(...subs.map((sub) => ledgerRef(db, runId, sub)));
  for (const snapshot of snapshots)
    if (snapshot.exists) done.set(snapshot.id, snapshot.data() as LedgerEntry);
  return done;
}

/** Firestore's ALREADY_EXISTS (gRPC code 6), raised by create() on an existing document. */
export function isAlreadyExists(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 6;
}

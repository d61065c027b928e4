// The per-run, per-user ledger `runs/{runId}/ledger/{sub}`: written once, when the user's outcome
// for this run is final, with `create()` (fails if present), so the first delivery that finished
// the user decides. A redelivered batch reads the ledger first and skips users already recorded.
// It is the one truth of a run: the report is counted from it (./report.ts), and a re-run
// (./rerun.ts) replaces only the entries that are not done (RERUN, below). `expireAt` drives a
// Firestore TTL policy.
import {
  Timestamp,
  type CollectionReference,
  type DocumentReference,
  type Firestore,
} from '@google-cloud/firestore';
import type { FailureClass } from '../retry/classify.ts';
import type { JobRecord } from './user/jobs-step.ts';

export const RUNS = 'runs';
const LEDGER = 'ledger';
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

/**
 * What a re-run of the period does with a user recorded with each outcome (docs/operations.md#re-running-a-run).
 * `done`: a decision that stands for the period (the jobs ran, or the user or the app must act
 * first, or the user left); `redo`: the user's own work did not succeed, so a re-run deletes the
 * entry and does the user again (the jobs are idempotent per period). A user without an entry is
 * redone too. Every outcome is listed: a new one must be decided here.
 */
export const RERUN: Readonly<Record<FinalOutcome, 'done' | 'redo'>> = {
  ok: 'done',
  'needs-consent': 'done',
  'needs-settings': 'done',
  'needs-reconnect': 'done',
  revoked: 'done',
  // The user unsubscribed; every run retries the revocation at Google anyway.
  'revoke-pending': 'done',
  // Gone, revoked, needs reconnect, or superseded by the user's own decision during the run.
  skipped: 'done',
  failed: 'redo',
  'dead-lettered': 'redo',
};

export const FINAL_OUTCOMES = Object.keys(RERUN) as readonly FinalOutcome[];
export const REDO_OUTCOMES = FINAL_OUTCOMES.filter((outcome) => RERUN[outcome] === 'redo');

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

export function ledgerCollection(db: Firestore, runId: string): CollectionReference {
  return runRef(db, runId).collection(LEDGER);
}

export function ledgerPath(runId: string, sub: string): string {
  return `${RUNS}/${runId}/${LEDGER}/${sub}`;
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

/** What a re-run found for one batch: the users to redo and the outcomes it removed. */
export interface Cleared {
  readonly redo: readonly string[];
  /** Per replaced outcome, how many users (`unrecorded`: users who had no entry). */
  readonly replaced: Readonly<Record<string, number>>;
}

const FAILED_PRECONDITION = 9;
const CLEAR_ATTEMPTS = 3;

/**
 * A re-run's only ledger write: the entries of these users that RERUN says to redo are deleted,
 * each only as read (its update time), all in one commit, so the re-run's delivery records the
 * user again with `create()` and the first delivery of that re-run decides. An entry that changed
 * meanwhile (a straggling delivery recorded the user) fails the commit, and the batch is read
 * again. Done entries are never touched.
 */
export async function clearForRerun(
  db: Firestore,
  runId: string,
  subs: readonly string[],
): Promise<Cleared> {
  for (let attempt = 1; ; attempt += 1) {
    const snapshots = await db.getAll(...subs.map((sub) => ledgerRef(db, runId, sub)));
    const redo: string[] = [];
    const replaced: Record<string, number> = {};
    const batch = db.batch();
    let deletes = 0;
    for (const snapshot of snapshots) {
      const outcome = snapshot.exists ? String(snapshot.get('outcome')) : 'unrecorded';
      if (RERUN[outcome as FinalOutcome] === 'done') continue;
      redo.push(snapshot.id);
      replaced[outcome] = (replaced[outcome] ?? 0) + 1;
      if (!snapshot.exists) continue;
      batch.delete(snapshot.ref, { lastUpdateTime: snapshot.updateTime! });
      deletes += 1;
    }
    try {
      if (deletes > 0) await batch.commit();
      return { redo, replaced };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== FAILED_PRECONDITION || attempt >= CLEAR_ATTEMPTS) throw error;
    }
  }
}

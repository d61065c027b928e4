// Re-running a period (docs/operations.md#re-running-a-run). A tick for a run that exists is a
// re-run only once the run has settled; then the dispatcher goes through the batches it recorded
// (`runs/{runId}/dispatched/{batchId}`, ./dispatched.ts) and, for each, deletes the ledger
// entries a re-run redoes (RERUN in ./ledger.ts: dead-lettered, failed, none) and sends the batch
// again with those users only. Users whose outcome stands are never sent, so get no Google call.
// A re-published batch is a subset of its record, so the worker accepts it.
import { FieldPath, Timestamp, type Firestore } from '@google-cloud/firestore';
import type { Logger } from '../log.ts';
import type { RunDeps } from './deps.ts';
import type { RepairRecord, RunDoc } from './dispatch.ts';
import { DISPATCHED } from './dispatched.ts';
import { clearForRerun, runRef } from './ledger.ts';
import type { WorkBatch } from './messages.ts';
import { countToRedo, lastRecordedAt, progressOf } from './report.ts';

/**
 * A run that is neither complete nor halted is re-run only after this long without any user
 * recorded, dispatched or re-dispatched: longer than Pub/Sub's deliveries of one batch can last
 * under the deploy's retry policy (5 deliveries of at most the worker's 540 s timeout, with
 * backoff of at most 600 s between them: 85 min). Before that a tick is a duplicate.
 */
export const RERUN_QUIET_MS = 2 * 3600e3;

/** Dispatched records read per page while re-dispatching. */
const PAGE = 50;

export type RerunVerdict =
  | { readonly kind: 'rerun'; readonly users: number }
  /** Its deliveries may still be at work: the tick is a duplicate. */
  | { readonly kind: 'in-progress' }
  | { readonly kind: 'nothing-to-redo' };

/**
 * Whether a tick for this existing run re-runs it: the run is dispatched (or halted) and has
 * settled, meaning every user is recorded, or it halted, or nothing happened for RERUN_QUIET_MS;
 * and some user is left to redo. A run halted before its fan-out is dispatched in full.
 */
export async function rerunVerdict(db: Firestore, run: RunDoc, now: number): Promise<RerunVerdict> {
  if (run.status === 'dispatching' || run.status === 'repairing') return { kind: 'in-progress' };
  if (run.status === 'halted' && run.dispatchedAt === null) return { kind: 'rerun', users: 0 };
  const progress = await progressOf(db, run);
  const users = await countToRedo(db, progress);
  if (users === 0) return { kind: 'nothing-to-redo' };
  if (progress.recorded >= run.users || progress.halt.halted) return { kind: 'rerun', users };
  const last = Math.max(
    run.dispatchedAt?.toMillis() ?? 0,
    ...(run.repairs ?? []).map((repair) => (repair.finishedAt ?? repair.startedAt).toMillis()),
    (await lastRecordedAt(db, run.runId)) ?? 0,
  );
  return now - last >= RERUN_QUIET_MS ? { kind: 'rerun', users } : { kind: 'in-progress' };
}

export interface Repair {
  /** The run as claimed for the repair: its last repair record is the one under way. */
  readonly run: RunDoc;
  /** Publishes the batch to the work topic, or processes it here (RUN_INLINE). */
  readonly send: (batch: WorkBatch) => Promise<void>;
  /** How long each saved step keeps the dispatcher's lease. */
  readonly leaseMs: number;
  readonly log: Logger;
}

/**
 * Re-dispatches the batches of the run that have users to redo, from the repair's cursor (a
 * dispatcher that died meanwhile is resumed by the next tick), saving the cursor after each.
 */
export async function repairBatches(deps: RunDeps, repair: Repair): Promise<RepairRecord> {
  const { db, runtime } = deps;
  const { run, send, leaseMs, log } = repair;
  const earlier = (run.repairs ?? []).slice(0, -1);
  let current = (run.repairs ?? []).at(-1)!;
  const save = (fields: Record<string, unknown> = {}) =>
    runRef(db, run.runId).update({
      repairs: [...earlier, current],
      dispatcherLeaseUntil: Timestamp.fromMillis(runtime.clock.now() + leaseMs),
      ...fields,
    });
  log.info(current.cursor === null ? 're-run started' : 're-run resumed', {
    attempt: current.attempt,
  });
  for (;;) {
    let query = runRef(db, run.runId)
      .collection(DISPATCHED)
      .orderBy(FieldPath.documentId())
      .select('subs')
      .limit(PAGE);
    if (current.cursor !== null) query = query.startAfter(current.cursor);
    const page = await query.get();
    for (const record of page.docs) {
      const subs = (record.get('subs') as string[] | undefined) ?? [];
      const { redo, replaced } = await clearForRerun(db, run.runId, subs);
      if (redo.length > 0) await send({ v: 1, runId: run.runId, batchId: record.id, subs: redo });
      current = {
        ...current,
        cursor: record.id,
        batches: current.batches + (redo.length > 0 ? 1 : 0),
        users: current.users + redo.length,
        replaced: added(current.replaced, replaced),
      };
      await save();
    }
    if (page.size < PAGE) break;
  }
  current = { ...current, finishedAt: Timestamp.fromMillis(runtime.clock.now()) };
  await save({ status: 'dispatched' });
  log.info('re-run dispatched', {
    attempt: current.attempt,
    users: current.users,
    batches: current.batches,
    replaced: current.replaced,
  });
  return current;
}

function added(
  into: Readonly<Record<string, number>>,
  more: Readonly<Record<string, number>>,
): Record<string, number> {
  const sum = { ...into };
  for (const [key, count] of Object.entries(more)) sum[key] = (sum[key] ?? 0) + count;
  return sum;
}

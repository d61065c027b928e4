// Taking the user's lease before any Google call, with backoff while another delivery holds it.
// A lease names one acquisition (a random holder token per user and delivery), so two deliveries
// on one instance can never work on one user at once. A user the run does not work on (gone,
// revoked, needs-reconnect) is recorded as skipped.
import { LEASE_BUSY, OperationError } from '../../errors.ts';
import { withBackoff } from '../../retry/backoff.ts';
import { classifyError } from '../../retry/classify.ts';
import type { Held, Snapshot } from '../../store/connection/repository.ts';
import { readLedger } from '../ledger.ts';
import type { UserResult, UserWork } from './context.ts';
import { recordUserResult } from './outcome.ts';

/** The lease outlives the user's budget a little, so it covers the final write. */
const LEASE_MARGIN_MS = 5_000;
/** Longer than any lease can last: a holder that died lets go within this, a live one sooner. */
const leaseWaitMs = (work: UserWork) => work.budgetMs() + LEASE_MARGIN_MS + 1_000;
const LEASE_POLL_SECONDS = 1;

export type LeaseStep =
  | { readonly kind: 'leased'; readonly held: Held }
  | { readonly kind: 'done'; readonly result: UserResult };

/**
 * Another delivery holds the user (until `until` at the latest): look again in a second or two,
 * since a live holder lets go as soon as it is done.
 */
export function leaseBusy(until: number, now: number): OperationError {
  return new OperationError(LEASE_BUSY, 'another delivery holds this user', {
    retryAfterSeconds: Math.min(LEASE_POLL_SECONDS, Math.max(1, Math.ceil((until - now) / 1000))),
  });
}

async function finishedMeanwhile(work: UserWork, held: Held): Promise<UserResult | undefined> {
  const entry = (await readLedger(work.deps.db, work.run.period.runId, [work.sub])).get(work.sub);
  if (entry === undefined) return undefined;
  await work.run.connections.releaseLease(held);
  return work.result(entry.outcome, {
    ...(entry.failure ? { failure: entry.failure } : {}),
    ...(entry.reason ? { reason: entry.reason } : {}),
    ...(entry.effect ? { effect: entry.effect } : {}),
  });
}

export async function takeLease(
  work: UserWork,
  /** The connection as read in bulk by the batch; used for the first attempt only. */
  prefetched: Snapshot | undefined,
): Promise<LeaseStep> {
  let seen = prefetched;
  let waited = false;
  try {
    // Waiting for another holder does not spend this delivery (nor Pub/Sub's delivery attempts):
    // the user waits here until the lease is free or has lapsed, then its own budget starts.
    const leaseWait = {
      ...work.backoff(),
      deadline: work.now() + leaseWaitMs(work),
      maxMs: 2 * LEASE_POLL_SECONDS * 1000,
    };
    const applied = await withBackoff(async () => {
      const first = seen;
      seen = undefined;
      const now = work.now();
      const until = new Date(now + work.budgetMs() + LEASE_MARGIN_MS);
      const answer = await work.run.connections.takeLease(work.sub, {
        lease: { holder: work.holder, until },
        now: new Date(now),
        ...(first ? { seen: first } : {}),
      });
      if (answer.kind === 'refused' && answer.refusal === 'busy') {
        waited = true;
        throw leaseBusy(answer.snapshot.connection?.refreshLease?.until.getTime() ?? now, now);
      }
      return answer;
    }, leaseWait);
    if (applied.kind === 'refused') {
      const reason = applied.snapshot.connection?.state ?? 'missing';
      const result = work.result('skipped', { reason });
      return { kind: 'done', result: await recordUserResult(work.deps, work.run, result) };
    }
    const held = { connection: applied.connection, version: applied.version, holder: work.holder };
    // Unknown (no bulk read) counts as taken over: only a lease seen free is a clean start.
    work.leaseTakenOver =
      waited || prefetched === undefined || (prefetched.connection?.refreshLease ?? null) !== null;
    // The holder we waited for may have finished this user: its ledger record stands.
    const finished = waited ? await finishedMeanwhile(work, held) : undefined;
    if (finished) return { kind: 'done', result: finished };
    work.startWork();
    return { kind: 'leased', held };
  } catch (error) {
    const { failure, reason } = classifyError(error);
    work.log.warn('cannot start user', { failure, reason, error });
    if (failure === 'transient')
      return { kind: 'done', result: work.result('retry', { failure, reason }) };
    const result = work.result('failed', { failure, reason });
    return { kind: 'done', result: await recordUserResult(work.deps, work.run, result) };
  }
}

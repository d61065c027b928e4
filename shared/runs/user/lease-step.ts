// Taking the user's lease before any Google call. A lease names one acquisition (a random holder
// token per user and delivery), so two deliveries on one instance can never work on one user at
// once. It lasts LEASE_TTL_MS and its live holder renews it (a heartbeat), so the lease of an
// instance that died is taken over within seconds, not after a user's whole budget. A user whose
// lease another delivery holds is set aside (./../process-user.ts) without holding a lookahead
// slot or a Google lane, and tried again. A user the run does not work on (gone, revoked,
// needs-reconnect) is recorded as skipped.
import { LEASE_BUSY } from '../../errors.ts';
import { withBackoff } from '../../retry/backoff.ts';
import { classifyError } from '../../retry/classify.ts';
import type { Held, Snapshot } from '../../store/connection/repository.ts';
import { readLedger } from '../ledger.ts';
import type { UserResult, UserWork } from './context.ts';
import { recordUserResult } from './outcome.ts';

/** A holder that stopped renewing lets go within this. */
export const LEASE_TTL_MS = 6_000;
/** Renewed this often: two renewals may fail before the lease lapses. */
const RENEW_EVERY_MS = 2_000;
/** How often a set-aside user looks at a busy lease again. */
const BUSY_POLL_MS = 1_000;

export type LeaseStep =
  | { readonly kind: 'leased'; readonly held: Held }
  /** Another delivery holds the user, until `until` at the latest unless it renews. */
  | { readonly kind: 'busy'; readonly until: number }
  | { readonly kind: 'done'; readonly result: UserResult };

/** How long a set-aside user waits before looking again, or undefined when it waited enough. */
export function busyWait(work: UserWork, until: number): number | undefined {
  // A live holder finishes within its budget (and renews meanwhile); a dead one lapses within
  // the TTL. Past both, the user is left for the batch's redelivery.
  const giveUpAt = work.started + work.budgetMs() + LEASE_TTL_MS + BUSY_POLL_MS;
  const now = work.now();
  if (now >= giveUpAt) return undefined;
  return Math.max(50, Math.min(BUSY_POLL_MS, until - now, giveUpAt - now));
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

/**
 * Was the connection, as the batch read it before this delivery's lease, written during the run?
 * Both times are Firestore's commit times, so no two clocks are compared; the millisecond they
 * are rounded to counts as during.
 */
function writtenDuringRun(work: UserWork, prefetched: Snapshot | undefined): boolean {
  const createdAt = work.run.runCreatedAt;
  const writtenAt = prefetched?.writtenAt?.getTime();
  if (createdAt === undefined || writtenAt === undefined) return true;
  return writtenAt >= createdAt;
}

export async function takeLease(
  work: UserWork,
  /** The connection as read in bulk by the batch; used for the first attempt only. */
  prefetched: Snapshot | undefined,
): Promise<LeaseStep> {
  let seen = prefetched;
  try {
    const applied = await withBackoff(async () => {
      const first = seen;
      seen = undefined;
      const now = work.now();
      return work.run.connections.takeLease(work.sub, {
        lease: { holder: work.holder, until: new Date(now + LEASE_TTL_MS) },
        now: new Date(now),
        ...(first ? { seen: first } : {}),
      });
    }, work.backoff());
    if (applied.kind === 'refused' && applied.refusal === 'busy') {
      work.waitedForLease = true;
      const until = applied.snapshot.connection?.refreshLease?.until.getTime() ?? work.now();
      return { kind: 'busy', until };
    }
    if (applied.kind === 'refused') {
      const reason = applied.snapshot.connection?.state ?? 'missing';
      const result = work.result('skipped', { reason });
      return { kind: 'done', result: await recordUserResult(work.deps, work.run, result) };
    }
    const held = { connection: applied.connection, version: applied.version, holder: work.holder };
    const lapsed = applied.previous?.refreshLease;
    if (lapsed && lapsed.holder !== work.holder)
      work.log.info('took over a lapsed lease', {
        lapsedForMs: work.now() - lapsed.until.getTime(),
      });
    // Unknown (no bulk read) counts as taken over: only a lease seen free is a clean start.
    work.leaseTakenOver =
      work.waitedForLease ||
      prefetched === undefined ||
      (prefetched.connection?.refreshLease ?? null) !== null;
    work.writtenDuringRun = writtenDuringRun(work, prefetched);
    // The holder we waited for may have finished this user: its ledger record stands.
    const finished = work.waitedForLease ? await finishedMeanwhile(work, held) : undefined;
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

/** The user could not be started here while another delivery held it: left for redelivery. */
export function leaseStillBusy(work: UserWork): UserResult {
  return work.result('retry', { failure: 'transient', reason: LEASE_BUSY });
}

/**
 * Renews the lease every RENEW_EVERY_MS while the user is worked on; the returned function stops
 * it. A refused renewal (the user revoked, reconnected, or another delivery took over) stops it
 * too: the run's own final write will be refused the same way.
 */
export function keepLease(work: UserWork, held: Held): () => void {
  let stopped = false;
  let renewing: Promise<unknown> = Promise.resolve();
  // Each renewal starts from the version the last one wrote, so it needs no fresh read.
  let current = held;
  const timer = setInterval(() => {
    renewing = renewing.then(async () => {
      if (stopped) return;
      try {
        const answer = await work.run.connections.renewLease(current, {
          holder: work.holder,
          until: new Date(work.now() + LEASE_TTL_MS),
        });
        if (answer.kind === 'refused') stop();
        else
          current = { connection: answer.connection, version: answer.version, holder: held.holder };
      } catch (error) {
        // The next beat tries again; two may fail before the lease lapses.
        work.log.warn('cannot renew the lease', { error });
      }
    });
  }, RENEW_EVERY_MS);
  timer.unref();
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}

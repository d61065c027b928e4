// Taking the user's lease before any Google call, with backoff while another delivery holds it.
// A lease names one acquisition (a random holder token per user and delivery), so two deliveries
// on one instance can never work on one user at once. A user the run does not work on (gone,
// revoked, needs-reconnect) is recorded as skipped.
import { LEASE_BUSY, OperationError } from '../../errors.ts';
import { withBackoff } from '../../retry/backoff.ts';
import { classifyError } from '../../retry/classify.ts';
import type { Held, Snapshot } from '../../store/connection/repository.ts';
import type { UserResult, UserWork } from './context.ts';
import { recordUserResult } from './outcome.ts';

/** The lease outlives the user's budget a little, so it covers the final write. */
const LEASE_MARGIN_MS = 5_000;

export type LeaseStep =
  | { readonly kind: 'leased'; readonly held: Held }
  | { readonly kind: 'done'; readonly result: UserResult };

/** Another delivery holds the user until `until`: try again after that. */
export function leaseBusy(until: number, now: number): OperationError {
  return new OperationError(LEASE_BUSY, 'another delivery holds this user', {
    retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)),
  });
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
      const until = new Date(work.deadline + LEASE_MARGIN_MS);
      const answer = await work.run.connections.takeLease(work.sub, {
        lease: { holder: work.holder, until },
        now: new Date(now),
        ...(first ? { seen: first } : {}),
      });
      if (answer.kind === 'refused' && answer.refusal === 'busy')
        throw leaseBusy(answer.snapshot.connection?.refreshLease?.until.getTime() ?? now, now);
      return answer;
    }, work.backoff());
    if (applied.kind === 'refused') {
      const reason = applied.snapshot.connection?.state ?? 'missing';
      const result = work.result('skipped', { reason });
      return { kind: 'done', result: await recordUserResult(work.deps, work.run, result) };
    }
    const held = { connection: applied.connection, version: applied.version, holder: work.holder };
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

// Taking the user's lease before any Google call, with backoff while another delivery holds it.
// A user the run does not work on (gone, revoked, needs-reconnect) is recorded as skipped.
import type { DocumentSnapshot } from '@google-cloud/firestore';
import type { ConnectionDoc } from '../../store/connections.ts';
import { withBackoff } from '../../retry/backoff.ts';
import { classifyError } from '../../retry/classify.ts';
import { acquireLease, leaseBusy } from '../lease.ts';
import type { UserResult, UserWork } from './context.ts';
import { recordUserResult } from './outcome.ts';

/** The lease outlives the user's budget a little, so it covers the final write. */
const LEASE_MARGIN_MS = 5_000;

export type LeaseStep =
  | { readonly kind: 'leased'; readonly connection: ConnectionDoc }
  | { readonly kind: 'done'; readonly result: UserResult };

export async function takeLease(
  work: UserWork,
  /** The connection as read in bulk by the batch; used for the first attempt only. */
  prefetched: DocumentSnapshot | undefined,
): Promise<LeaseStep> {
  let snapshot = prefetched;
  try {
    const lease = await withBackoff(async () => {
      const first = snapshot;
      snapshot = undefined;
      const result = await acquireLease(work.deps.db, {
        sub: work.sub,
        holder: work.deps.instanceId,
        now: work.now(),
        ttlMs: work.deadline - work.now() + LEASE_MARGIN_MS,
        prefetched: first,
        commit: (writes) => work.commit(writes),
      });
      if (result.kind === 'busy') throw leaseBusy(result.until, work.now());
      return result;
    }, work.backoff());
    if (lease.kind === 'not-runnable') {
      const reason = lease.connection?.state ?? 'missing';
      return {
        kind: 'done',
        result: await recordUserResult(work.deps, work.run, work.result('skipped', { reason })),
      };
    }
    return { kind: 'leased', connection: lease.connection };
  } catch (error) {
    const { failure, reason } = classifyError(error);
    work.log.warn('cannot start user', { failure, reason, error });
    if (failure === 'transient')
      return { kind: 'done', result: work.result('retry', { failure, reason }) };
    const result = await recordUserResult(
      work.deps,
      work.run,
      work.result('failed', { failure, reason }),
    );
    return { kind: 'done', result };
  }
}

// A revoke-pending connection found by a run: the revocation is completed through the same code
// as the revoke function (which publishes the `revoked` event), inside the user's Google lane.
import { revokeConnection } from '../../flows/revoke.ts';
import type { UserResult, UserWork } from './context.ts';
import { recordUserResult } from './outcome.ts';

export async function completeRevocation(work: UserWork): Promise<UserResult> {
  const { deps, run } = work;
  const outcome = await revokeConnection(
    deps.runtime,
    work.sub,
    { via: 'scheduled-retry', actor: `run:${run.period.runId}` },
    { fetch: deps.fetch, attempts: 3 },
  );
  const result =
    outcome === 'pending'
      ? work.result('revoke-pending', { failure: 'transient' })
      : outcome === 'not-found'
        ? work.result('skipped', { reason: 'missing' })
        : work.result('revoked', { reason: outcome });
  return recordUserResult(deps, run, result);
}

// A revoke-pending connection found by a run: the revocation is completed through the same code
// as the revoke function (which publishes the `revoked` event), inside the user's Google lane.
// One that Google refused for good under the configuration we run with is left to the operator
// (docs/operations.md#when-google-refuses-a-revocation): calling again would only be refused again.
import { refusedUnderCurrentConfig, revokeConnection } from '../../revocation/revoke-connection.ts';
import type { Held } from '../../store/connection/repository.ts';
import type { UserResult, UserWork } from './context.ts';
import { recordUserResult, superseded } from './outcome.ts';

export async function completeRevocation(work: UserWork, held: Held): Promise<UserResult> {
  const { deps, run } = work;
  const { runtime } = deps;
  if (refusedUnderCurrentConfig(runtime.config, held.connection)) {
    const released = await run.connections.releaseLease(held);
    if (released.kind === 'refused') return superseded(work, released);
    const result = work.result('revoke-pending', { reason: 'refused' });
    return recordUserResult(deps, run, result);
  }
  const outcome = await revokeConnection(
    {
      config: runtime.config,
      connections: run.connections,
      tokenKeys: async () => await runtime.keys('token'),
      events: deps.events,
      log: work.log,
      clock: runtime.clock,
      revokeOptions: { fetch: deps.fetch, attempts: 3, random: deps.random, sleep: deps.sleep },
    },
    work.sub,
    { via: 'scheduled-retry', actor: `run:${run.period.runId}` },
  );
  const result =
    outcome === 'pending' || outcome === 'refused'
      ? work.result('revoke-pending', { failure: 'transient', reason: outcome })
      : outcome === 'not-found'
        ? work.result('skipped', { reason: 'missing' })
        : work.result('revoked', { reason: outcome });
  return recordUserResult(deps, run, result);
}

// One user in one run: lease → (Google lane) token and jobs → one connection write with the
// ledger record. Each step is its own module in ./user/ around one UserWork context; this file
// only orders them. Firestore writes on the success path: the lease, then the final connection
// update (token, lease release, lastRun) together with the ledger record.
import { classifyError } from '../retry/classify.ts';
import type { Held, Snapshot } from '../store/connection/repository.ts';
import type { RunDeps } from './deps.ts';
import { UserWork, type UserResult, type UserRunContext } from './user/context.ts';
import { inGoogleLane } from './user/google-lane.ts';
import { runJobs, type JobOutcome, type JobRecord, type JobsStep } from './user/jobs-step.ts';
import type { UserOutcome } from './ledger.ts';
import { busyWait, keepLease, leaseStillBusy, takeLease } from './user/lease-step.ts';
import { recordFailure, recordFinished, superseded } from './user/outcome.ts';
import { completeRevocation } from './user/revocation-step.ts';

export async function processUser(
  deps: RunDeps,
  run: UserRunContext,
  sub: string,
  /** The connection as read in bulk by the batch; used for the first lease attempt only. */
  prefetched?: Snapshot,
): Promise<UserResult> {
  const work = new UserWork(deps, run, sub);
  let seen = prefetched;
  for (;;) {
    // Pipelined lanes (docs/architecture.md#pipelined-lanes): a user takes its lease while at
    // most WORKER_CONCURRENCY users wait for a Google lane (deps.lookahead), and makes its final
    // write after leaving the lane, so a lane never idles on a Firestore round trip.
    const leaveLookahead = await deps.lookahead.acquire();
    work.leaveLookahead = leaveLookahead;
    let step: UserResult | { readonly busyUntil: number };
    try {
      step = await processLeasedUser(work, seen);
    } finally {
      leaveLookahead();
    }
    if (!('busyUntil' in step)) return step;
    // Another delivery holds the user: set aside, holding no slot, while the others go on.
    seen = undefined;
    const wait = busyWait(work, step.busyUntil);
    if (wait === undefined) return leaseStillBusy(work);
    await deps.sleep(wait);
  }
}

async function processLeasedUser(
  work: UserWork,
  prefetched: Snapshot | undefined,
): Promise<UserResult | { readonly busyUntil: number }> {
  const { run } = work;
  if (run.halt.halted) return work.result('halted');
  work.appUser = prefetched?.connection?.appUserId ?? work.appUser;
  const lease = await takeLease(work, prefetched);
  if (lease.kind === 'done') return lease.result;
  if (lease.kind === 'busy') return { busyUntil: lease.until };
  const stopRenewing = keepLease(work, lease.held);
  try {
    return await processHeldUser(work, lease.held);
  } finally {
    stopRenewing();
  }
}

async function processHeldUser(work: UserWork, held: Held): Promise<UserResult> {
  const { deps, run } = work;
  if (held.connection.state === 'revoke-pending')
    return inGoogleLane(work, () => completeRevocation(work, held));

  work.appUser = held.connection.appUserId;
  const keys = await deps.runtime.keys('token');
  const grant = { held, keys, settings: await run.jobSettings(held.connection) };
  const step = await inGoogleLane(work, async (): Promise<JobsStep | 'halted'> =>
    // The run may have stopped while this user waited for its lane.
    run.halt.halted ? 'halted' : runJobs(work, grant),
  );
  if (step === 'halted') {
    const released = await run.connections.releaseLease(held);
    return released.kind === 'written' ? work.result('halted') : superseded(work, released);
  }
  if (step.kind === 'superseded')
    return superseded(work, {
      kind: 'refused',
      refusal: 'superseded',
      snapshot: await run.connections.read(work.sub),
    });
  const state = { held, keys, token: step.token, jobs: step.jobs };
  const detail = { jobs: step.records, effect: effectOf(step.records) };
  try {
    if (step.kind === 'failed') throw step.error;
    return await recordFinished(work, state, work.result(userOutcome(step.records), detail));
  } catch (error) {
    return recordFailure(work, state, { classified: classifyError(error), error, detail });
  }
}

/** The user's outcome is their worst job's: a transient one leaves the user for redelivery. */
function userOutcome(records: Readonly<Record<string, JobRecord>>): UserOutcome {
  const outcomes = new Set(Object.values(records).map((record) => record.outcome));
  for (const [job, user] of OUTCOME_ORDER) if (outcomes.has(job)) return user;
  return 'ok';
}

const OUTCOME_ORDER: readonly (readonly [JobOutcome, UserOutcome])[] = [
  ['retry', 'retry'],
  ['failed', 'failed'],
  ['needs-consent', 'needs-consent'],
  ['needs-settings', 'needs-settings'],
];

/** `job:effect` of every job that did something, for the ledger's one-line summary. */
function effectOf(records: Readonly<Record<string, JobRecord>>): string | undefined {
  const effects = Object.entries(records)
    .filter(([, record]) => record.effect !== null)
    .map(([job, record]) => `${job}:${record.effect}`);
  return effects.length > 0 ? effects.join(',') : undefined;
}
